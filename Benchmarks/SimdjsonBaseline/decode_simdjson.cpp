// Evaluation of Debian's simdjson (libsimdjson-dev 3.0.1) against StreamLearn's EventDecoder on the same events:
// every line of FILE is parsed and each field read as a feature (number, bool, string or null), as the decoder
// does. simdjson does not reject duplicate keys, and its on-demand API reads only what is touched; the DOM API
// validates the whole document. Build and run: make bench-decode-simdjson
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace simdjson;
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 64;
    }
    std::ifstream file(argv[1], std::ios::binary);
    std::stringstream content;
    content << file.rdbuf();
    std::string data = content.str();
    // simdjson reads up to SIMDJSON_PADDING bytes past each document: pad the whole buffer once.
    padded_string padded(data);
    std::vector<std::pair<size_t, size_t>> lines;
    for (size_t at = 0; at < data.size();) {
        size_t end = data.find('\n', at);
        if (end == std::string::npos) end = data.size();
        if (end > at) lines.emplace_back(at, end - at);
        at = end + 1;
    }
    const char *base = padded.data();

    auto best_of = [&](auto &&body) {
        double best = 1e9;
        for (int pass = 0; pass < 3; pass++) {
            auto start = std::chrono::steady_clock::now();
            body();
            double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (seconds < best) best = seconds;
        }
        return lines.size() / best;
    };

    double sum = 0;
    size_t fields = 0, errors = 0;
    ondemand::parser od;
    double ondemand_rate = best_of([&] {
        for (auto [offset, length] : lines) {
            ondemand::document doc;
            if (od.iterate(base + offset, length, length + SIMDJSON_PADDING).get(doc)) { errors++; continue; }
            ondemand::object object;
            if (doc.get_object().get(object)) { errors++; continue; }
            for (auto field : object) {
                std::string_view key;
                if (field.unescaped_key().get(key)) { errors++; break; }
                ondemand::value value = field.value();
                ondemand::json_type type;
                if (value.type().get(type)) { errors++; break; }
                switch (type) {
                case ondemand::json_type::number: { double x; if (value.get_double().get(x)) errors++; else sum += x; break; }
                case ondemand::json_type::boolean: { bool b; if (value.get_bool().get(b)) errors++; else sum += b; break; }
                case ondemand::json_type::string: { std::string_view s; if (value.get_string().get(s)) errors++; else sum += s.size(); break; }
                default: break;
                }
                fields++;
            }
        }
    });

    dom::parser dp;
    double dom_rate = best_of([&] {
        for (auto [offset, length] : lines) {
            dom::element doc;
            if (dp.parse(base + offset, length, false).get(doc)) { errors++; continue; }
            dom::object object;
            if (doc.get_object().get(object)) { errors++; continue; }
            for (auto [key, value] : object) {
                if (value.is_double() || value.is_int64() || value.is_uint64()) sum += double(value);
                else if (value.is_bool()) sum += bool(value);
                else if (value.is_string()) sum += std::string_view(value).size();
                fields++;
            }
        }
    });

    std::printf("events        %zu from %s (simdjson %s, %s)\n", lines.size(), argv[1], STRINGIFY(SIMDJSON_VERSION),
                simdjson::get_active_implementation()->name().data());
    std::printf("simdjson on-demand                       %.0f events/s\n", ondemand_rate);
    std::printf("simdjson DOM                             %.0f events/s\n", dom_rate);
    std::printf("(fields %zu, errors %zu, checksum %.3f)\n", fields, errors, sum);
    return 0;
}
