/*
 * Plain librdkafka baseline for `streamlearn bench kafka`: the same workload in C, so the Swift wrapper's cost
 * can be measured. Starts a mock cluster (1 broker), creates a topic with P partitions, produces every line of
 * FILE (message i to partition i mod P, 8-byte key i, rd_kafka_produceva with a cached topic handle), flushes,
 * then assigns every partition from the beginning and consumes with rd_kafka_consume_batch_queue (4096 a batch).
 *
 * Build and run: make bench-kafka-c
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *why) {
    fprintf(stderr, "kafka_baseline: %s: %s\n", what, why);
    exit(1);
}

static rd_kafka_conf_t *conf_with(const char *bootstrap, const char *group) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (bootstrap && rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr))
        die("conf", errstr);
    if (group && rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr)) die("conf", errstr);
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    return conf;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s FILE PARTITIONS\n", argv[0]);
        return 64;
    }
    int partitions = atoi(argv[2]);
    FILE *file = fopen(argv[1], "rb");
    if (!file) die("cannot open", argv[1]);
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *data = malloc(size);
    if (fread(data, 1, size, file) != (size_t)size) die("cannot read", argv[1]);
    fclose(file);
    size_t count = 0, capacity = 1 << 20;
    size_t *starts = malloc(capacity * sizeof *starts), *lengths = malloc(capacity * sizeof *lengths);
    for (long at = 0; at < size;) {
        char *newline = memchr(data + at, '\n', size - at);
        long end = newline ? newline - data : size;
        if (count == capacity) {
            capacity *= 2;
            starts = realloc(starts, capacity * sizeof *starts);
            lengths = realloc(lengths, capacity * sizeof *lengths);
        }
        starts[count] = at;
        lengths[count] = end - at;
        count++;
        at = end + 1;
    }

    char errstr[512];
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf_with(NULL, NULL), errstr, sizeof errstr);
    if (!owner) die("owner", errstr);
    rd_kafka_mock_cluster_t *mock = rd_kafka_mock_cluster_new(owner, 1);
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mock);
    rd_kafka_mock_topic_create(mock, "bench", partitions, 1);

    rd_kafka_conf_t *pconf = conf_with(bootstrap, NULL);
    rd_kafka_conf_set(pconf, "enable.idempotence", "true", errstr, sizeof errstr);
    rd_kafka_conf_set(pconf, "linger.ms", "5", errstr, sizeof errstr);
    rd_kafka_conf_set(pconf, "queue.buffering.max.messages", "1000000", errstr, sizeof errstr);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
    if (!producer) die("producer", errstr);
    rd_kafka_topic_t *topic = rd_kafka_topic_new(producer, "bench", NULL);
    /* Connect before timing, as the Swift benchmark does (checkBrokersReachable). */
    const struct rd_kafka_metadata *metadata;
    if (rd_kafka_metadata(producer, 0, NULL, &metadata, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("metadata", "no answer");
    rd_kafka_metadata_destroy(metadata);

    double start = now();
    for (size_t i = 0; i < count; i++) {
        uint64_t key = i;
        rd_kafka_vu_t vus[5];
        vus[0].vtype = RD_KAFKA_VTYPE_RKT; vus[0].u.rkt = topic;
        vus[1].vtype = RD_KAFKA_VTYPE_PARTITION; vus[1].u.i32 = (int32_t)(i % partitions);
        vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS; vus[2].u.i = RD_KAFKA_MSG_F_COPY;
        vus[3].vtype = RD_KAFKA_VTYPE_VALUE; vus[3].u.mem.ptr = data + starts[i]; vus[3].u.mem.size = lengths[i];
        vus[4].vtype = RD_KAFKA_VTYPE_KEY; vus[4].u.mem.ptr = &key; vus[4].u.mem.size = sizeof key;
        for (;;) {
            rd_kafka_error_t *error = rd_kafka_produceva(producer, vus, 5);
            if (!error) break;
            if (rd_kafka_error_code(error) != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            rd_kafka_poll(producer, 100);
        }
        if ((i & 1023) == 0) rd_kafka_poll(producer, 0);
    }
    rd_kafka_flush(producer, 120000);
    double produce_seconds = now() - start;
    rd_kafka_topic_destroy(topic);
    rd_kafka_destroy(producer);

    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf_with(bootstrap, "bench-reader"), errstr, sizeof errstr);
    if (!consumer) die("consumer", errstr);
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, "bench", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(consumer, list);
    rd_kafka_topic_partition_list_destroy(list);

    rd_kafka_message_t **batch = malloc(4096 * sizeof *batch);
    size_t received = 0;
    uint64_t checksum = 0;
    start = now();
    while (received < count) {
        ssize_t got = rd_kafka_consume_batch_queue(queue, 100, batch, 4096);
        for (ssize_t i = 0; i < got; i++) {
            if (!batch[i]->err) {
                checksum += batch[i]->len + ((unsigned char *)batch[i]->payload)[0];
                received++;
            }
            rd_kafka_message_destroy(batch[i]);
        }
        if (now() - start > 120) die("consume", "timed out");
    }
    double consume_seconds = now() - start;
    rd_kafka_queue_destroy(queue);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(owner);

    printf("messages      %zu of %ld bytes over %d partitions (C, plain librdkafka)\n", count, size / (long)count - 1,
           partitions);
    printf("produce       %.0f msgs/s\n", count / produce_seconds);
    printf("consume       %.0f msgs/s (batch poll, up to 4096 per batch; checksum %llu)\n", received / consume_seconds,
           (unsigned long long)checksum);
    return 0;
}
