"""A cluster of workers on this one machine: free ports and each worker's TF_CONFIG.

For the multi-worker test and benchmark, which start real worker processes on
loopback; no TensorFlow is imported here.
"""

import json
import socket


def free_ports(count):
  """Ports the kernel hands out now; bound to loopback and released at once."""
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def tf_config(ports, index):
  """The TF_CONFIG of worker `index` of a cluster on `ports` of localhost."""
  return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}})
