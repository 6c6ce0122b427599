"""Node.partition: the cluster's partitioner, called per key by applications."""

import pytest

import ringfast


def test_node_partition_is_the_compiled_partitioner_with_the_nodes_count():
    node = ringfast.Node(num_partitions=37, monitoring_port="off", mode="thread")
    keys = ["a", "order-42", b"\x00bytes", 12345, "é"]
    assert [node.partition(k) for k in keys] == [ringfast.partition(k, 37) for k in keys]
    assert node.partitioner.num_partitions == 37
    # the hot path is a direct call into the extension, not a Python method forwarding to it
    assert node.partition.__self__ is node.partitioner
    with pytest.raises(TypeError, match="float"):
        node.partition(1.5)
