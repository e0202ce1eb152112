import time, sys
from tools.preview import run_under_mocks
from llm_platform.kubernetes import KubernetesObject
import pulumi
N=int(sys.argv[1])
def prog():
    for i in range(N):
        KubernetesObject(f"cm-{i}", {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":f"cm{i}","namespace":"x"},"data":{"a":"b"*100}})
if len(sys.argv)>2:
    import pulumi.runtime.resource as r
    from pulumi.runtime.proto import source_pb2
    r._get_stack_trace = lambda: source_pb2.StackTrace()
t=time.perf_counter(); run_under_mocks(lambda: None, stack="s", config={}); t0=time.perf_counter()
t=time.perf_counter(); run_under_mocks(prog, stack="s", config={}); print(f"{N}: {(time.perf_counter()-t)*1000/N:.2f} ms/res")
