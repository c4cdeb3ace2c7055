internal import CLibrdkafka

/// librdkafka's in-process mock cluster and the handle that owns it.
final class RDKafkaMockCluster: @unchecked Sendable {  // the mock's API is thread-safe (it posts to its own thread)
    let owner: RDKafkaClient
    let cluster: OpaquePointer
    let bootstrapServers: String

    init(brokers: Int, owner: RDKafkaClient) throws(KafkaError) {
        guard let cluster = rd_kafka_mock_cluster_new(owner.handle, Int32(brokers)) else {
            throw KafkaError(.embeddedBroker, "librdkafka could not start a mock cluster of \(brokers) broker(s)")
        }
        self.owner = owner
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    func createTopic(_ name: String, partitions: Int, replicationFactor: Int) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw RDKafkaClient.error(.embeddedBroker, "creating topic '\(name)' failed", err)
        }
    }

    func setBroker(_ id: Int32, up: Bool) throws(KafkaError) {
        let err = up ? rd_kafka_mock_broker_set_up(cluster, id) : rd_kafka_mock_broker_set_down(cluster, id)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw RDKafkaClient.error(.embeddedBroker, "setting broker \(id) \(up ? "up" : "down") failed", err)
        }
    }

    func setRoundTripTime(broker: Int32, milliseconds: Int) throws(KafkaError) {
        let err = rd_kafka_mock_broker_set_rtt(cluster, broker, Int32(milliseconds))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw RDKafkaClient.error(.embeddedBroker, "setting the round-trip time of broker \(broker) failed", err)
        }
    }

    func setPartitionLeader(topic: String, partition: Int32, broker: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_partition_set_leader(cluster, topic, partition, broker)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw RDKafkaClient.error(.embeddedBroker, "moving \(topic)[\(partition)] to broker \(broker) failed", err)
        }
    }

    func pushRequestErrors(apiKey: Int16, errors: [Int32]) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        codes.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster, apiKey, $0.count, $0.baseAddress) }
    }

    func clearRequestErrors(apiKey: Int16) {
        rd_kafka_mock_clear_request_errors(cluster, apiKey)
    }

    /// Destroys the mock (may block up to a second), then its owner handle. Clients must be closed first.
    func destroy() {
        rd_kafka_mock_cluster_destroy(cluster)
        owner.destroy()
    }
}
