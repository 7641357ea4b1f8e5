#!/usr/bin/env python3
"""A stand-in for Kafka's bin/kafka-topics.sh on the Admin API (confluent-kafka), for tools and test suites that
shell out to it (librdkafka's tests 0045, 0052, 0077: KAFKA_PATH=scripts/kafka-tools). Supports
--bootstrap-server, --create / --delete / --alter / --list / --describe, --topic, --partitions,
--replication-factor, --config k=v (repeatable), --if-not-exists, --if-exists. Exit status 0 on success, 1 with a
message on stderr otherwise, as kafka-topics.sh."""
import argparse
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic


def main() -> int:
    p = argparse.ArgumentParser(prog="kafka-topics.sh")
    p.add_argument("--bootstrap-server", required=True)
    action = p.add_mutually_exclusive_group(required=True)
    for a in ("create", "delete", "alter", "list", "describe"):
        action.add_argument(f"--{a}", action="store_true")
    p.add_argument("--topic")
    p.add_argument("--partitions", type=int)
    p.add_argument("--replication-factor", type=int)
    p.add_argument("--config", action="append", default=[])
    p.add_argument("--if-not-exists", action="store_true")
    p.add_argument("--if-exists", action="store_true")
    p.add_argument("--command-config")  # accepted and ignored: no client properties are needed here
    args = p.parse_args()
    admin = AdminClient({"bootstrap.servers": args.bootstrap_server})

    def need_topic():
        if not args.topic:
            p.error("--topic is required")
        return args.topic

    try:
        if args.create:
            configs = {}
            for c in args.config:
                key, sep, value = c.partition("=")
                if not sep:
                    p.error(f"--config takes key=value, not {c!r}")
                configs[key] = value
            topic = NewTopic(need_topic(), num_partitions=args.partitions or -1,
                             replication_factor=args.replication_factor or -1, config=configs)
            try:
                admin.create_topics([topic])[args.topic].result(timeout=60)
            except KafkaException as e:
                if not (args.if_not_exists and e.args[0].name() == "TOPIC_ALREADY_EXISTS"):
                    raise
            print(f"Created topic {args.topic}.")
        elif args.delete:
            try:
                admin.delete_topics([need_topic()])[args.topic].result(timeout=60)
            except KafkaException as e:
                if not (args.if_exists and e.args[0].name() == "UNKNOWN_TOPIC_OR_PART"):
                    raise
        elif args.alter:
            if args.partitions is None:
                p.error("--alter needs --partitions")
            admin.create_partitions([NewPartitions(need_topic(), args.partitions)])[args.topic].result(timeout=60)
        elif args.list:
            for name in sorted(admin.list_topics(timeout=30).topics):
                print(name)
        else:
            md = admin.list_topics(args.topic, timeout=30) if args.topic else admin.list_topics(timeout=30)
            for name, t in sorted(md.topics.items()):
                if t.error is not None:
                    raise KafkaException(t.error)
                rf = len(next(iter(t.partitions.values())).replicas) if t.partitions else 0
                print(f"Topic: {name}\tPartitionCount: {len(t.partitions)}\tReplicationFactor: {rf}")
                for pid, part in sorted(t.partitions.items()):
                    print(f"\tTopic: {name}\tPartition: {pid}\tLeader: {part.leader}\t"
                          f"Replicas: {','.join(map(str, part.replicas))}\tIsr: {','.join(map(str, part.isrs))}")
    except KafkaException as e:
        print(f"Error: {e.args[0].str()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
