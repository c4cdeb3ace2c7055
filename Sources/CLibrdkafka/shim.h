#ifndef STREAMLEARN_CLIBRDKAFKA_SHIM_H
#define STREAMLEARN_CLIBRDKAFKA_SHIM_H
/* rdkafka_mock.h uses types from rdkafka.h and does not include it itself. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
/* The eventfd librdkafka wakes a reader of partition queues through. */
#include <sys/eventfd.h>
#endif
