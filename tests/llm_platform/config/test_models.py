"""The models a stack serves (`models.ModelConfig`) and the rules that fit them to the stack's GPU pools:
the GPU-memory rule of thumb, tensor parallelism inside one node, replicas within the pools' GPUs,
resources within the smallest instance, sources in the stack cloud's object store, and vLLM flags the
platform owns. On both clouds."""

from __future__ import annotations

import pytest

from llm_platform.config import ModelConfig, Violation, parse
from llm_platform.config.models import OWNED_FLAGS, canary_release, promoted, releases, vllm_args, weights_violations
from llm_platform.config.violations import NOT_SET
from tests.llm_platform.config import stacks
from tests.llm_platform.config.stacks import AWS_POOL, DELETE, GKE_POOL, changed, edited, only, problems, refused

# A 7B model that fits one L4 and may scale to both GPUs of its pool group.
MODEL = {"name": "mistral", "source": "hf://mistralai/Mistral-7B-Instruct-v0.3", "parametersBillion": 7.25, "poolGroup": "l4", "maxReplicas": 2}

# Each cloud's minimal stack serving MODEL on one L4 pool (on AWS, of two L4 instance sizes).
AWS = changed(stacks.AWS, {"gpuPools": [{**AWS_POOL, "instanceTypes": ["g6.xlarge", "g6.2xlarge"]}], "models": [MODEL]})
GCP = changed(stacks.GCP, {"gpuPools": [GKE_POOL], "models": [MODEL]})
STACKS = {"aws": AWS, "gcp": GCP}


def with_model(base: dict = AWS, **changes) -> dict:
    return edited(base, "models.0", **changes)


# -- defaults ---------------------------------------------------------------------------------------------


def test_model_defaults():
    (model,) = parse(AWS).models
    assert isinstance(model, ModelConfig)
    assert (model.precision, model.gpus_per_replica, model.min_replicas, model.max_replicas) == ("bf16", 1, 1, 2)
    assert (model.target_waiting_per_replica, model.startup_seconds, model.revision) == (5, None, None)
    engine = model.engine
    assert (engine.max_model_len, engine.gpu_memory_utilization, engine.max_num_seqs) == (8192, 0.90, 64)
    assert engine.prefix_caching and engine.chunked_prefill and engine.max_num_batched_tokens is None and engine.extra_args == []
    assert (model.resources.cpu, model.resources.memory_gib) == (3, 12)


# -- fit --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_a_7b_model_fits_one_l4(cloud):
    (model,) = parse(STACKS[cloud]).models
    # 7.25 B x 2 bytes x 1.2 = 17.4 GB against 22888 MiB (24.0 GB) x 0.9 = 21.6 GB.
    assert round(model.required_gb, 1) == 17.4
    assert model.weights_gib == pytest.approx(7.25e9 * 2 / 2**30)


def test_a_model_too_big_for_its_gpus_is_refused_with_the_numbers():
    message = problems(with_model(parametersBillion=13))
    assert "llm-platform:models[0].parametersBillion: 13.0 is invalid" in message
    assert "13B x 2 bytes (bf16) x 1.2 = 31.2 GB does not fit 1 x 24.0 GB x 0.9 = 21.6 GB of pool group l4" in message
    assert only(refused(with_model(parametersBillion=13))).key == "models[0].parametersBillion"


def test_a_model_too_big_for_a_gke_l4_is_refused_with_the_numbers():
    # g2-standard-8: 23034 MiB (24.2 GB) x 0.9 = 21.7 GB.
    violation = only(refused(with_model(GCP, parametersBillion=13)))
    assert (violation.key, violation.value) == ("models[0].parametersBillion", 13)
    assert violation.rule == "13B x 2 bytes (bf16) x 1.2 = 31.2 GB does not fit 1 x 24.2 GB x 0.9 = 21.7 GB of pool group l4"


def test_quantised_weights_fit_where_bf16_does_not():
    assert parse(with_model(parametersBillion=13, precision="awq-4bit")).models[0].required_gb == pytest.approx(7.8)


def test_a_lower_memory_share_can_refuse_what_the_default_fits():
    violation = only(refused(with_model(engine={"gpuMemoryUtilization": 0.7})))
    assert violation.key == "models[0].parametersBillion"
    assert "does not fit 1 x 24.0 GB x 0.7 = 16.8 GB of pool group l4" in violation.rule


# -- tensor parallelism -----------------------------------------------------------------------------------


def test_tensor_parallelism_stays_inside_one_node():
    message = problems(with_model(gpusPerReplica=2, maxReplicas=1))
    assert "llm-platform:models[0].gpusPerReplica: 2 is invalid" in message
    assert "the largest instance of pool group l4 has 1 GPU(s)" in message
    violation = only(refused(with_model(gpusPerReplica=2, maxReplicas=1)))
    assert violation == Violation("models[0].gpusPerReplica", 2, "tensor parallelism stays inside one node, and the largest instance of pool group l4 has 1 GPU(s); multi-node serving (LeaderWorkerSet over EFA or GPUDirect-TCPX) is not supported")


def test_tensor_parallelism_uses_the_node_gpus():
    l4x4 = changed(AWS, {"gpuPools": [{"name": "l4x4", "instanceTypes": ["g6.12xlarge"], "capacityTypes": ["on-demand"], "maxGpus": 8}]})
    raw = with_model(l4x4, poolGroup="l4x4", parametersBillion=32, gpusPerReplica=4, resources={"cpu": 16, "memoryGib": 64})
    (model,) = parse(raw).models
    assert model.gpus_per_replica == 4


def test_gke_tensor_parallelism_stays_inside_one_node():
    a100 = changed(GCP, {"gpuPools": [{"name": "a100", "machineType": "a2-highgpu-4g", "acceleratorType": "nvidia-tesla-a100", "acceleratorCount": 4, "capacityTypes": ["on-demand"], "maxGpus": 8}]})
    parse(with_model(a100, poolGroup="a100", gpusPerReplica=4, parametersBillion=32))
    violation = only(refused(with_model(a100, poolGroup="a100", gpusPerReplica=8, maxReplicas=1)))
    assert violation == Violation("models[0].gpusPerReplica", 8, "tensor parallelism stays inside one node, and the largest instance of pool group a100 has 4 GPU(s); multi-node serving (LeaderWorkerSet over EFA or GPUDirect-TCPX) is not supported")


# -- replicas ---------------------------------------------------------------------------------------------


def test_replicas_beyond_the_pool_gpus_are_refused():
    message = problems(with_model(maxReplicas=3))
    assert "llm-platform:models[0].maxReplicas: 3 is invalid (rule: 3 replicas x 1 GPU(s) = 3 exceeds the 2 GPUs (maxGpus) of pool group l4)" in message


def test_replicas_count_every_pool_of_the_group():
    pool = AWS["gpuPools"][0]
    raw = changed(AWS, {"gpuPools": [{**pool, "name": "l4-base", "group": "l4"}, {**pool, "name": "l4-burst", "group": "l4"}]})
    parse(with_model(raw, maxReplicas=4))
    violation = only(refused(with_model(raw, maxReplicas=5)))
    assert violation == Violation("models[0].maxReplicas", 5, "5 replicas x 1 GPU(s) = 5 exceeds the 4 GPUs (maxGpus) of pool group l4")


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_min_replicas_must_not_exceed_max(cloud):
    violation = only(refused(with_model(STACKS[cloud], minReplicas=2, maxReplicas=1)))
    assert violation == Violation("models[0].minReplicas", 2, "must not exceed maxReplicas (1)")


# -- pool groups and resources ----------------------------------------------------------------------------


def test_unknown_pool_group_and_oversized_resources():
    assert 'llm-platform:models[0].poolGroup: "a100" is invalid (rule: must name a GPU pool group of this stack (l4))' in problems(with_model(poolGroup="a100"))
    assert "must fit the smallest instance of pool group l4 (g6.xlarge: 4 vCPU, 16 GiB)" in problems(with_model(resources={"cpu": 4, "memoryGib": 12}))


def test_oversized_resources_are_a_typed_violation():
    violation = only(refused(with_model(resources={"cpu": 3, "memoryGib": 13})))
    assert (violation.key, violation.value) == ("models[0].resources", {"cpu": 3, "memoryGib": 13})
    assert violation.rule == "must fit the smallest instance of pool group l4 (g6.xlarge: 4 vCPU, 16 GiB) after system reserves: at most 3.4 vCPU and 12.8 GiB"


def test_gke_resources_fit_the_machine_type():
    parse(with_model(GCP, resources={"cpu": 6, "memoryGib": 24}))
    violation = only(refused(with_model(GCP, resources={"cpu": 7, "memoryGib": 24})))
    assert "(g2-standard-8: 8 vCPU, 32 GiB) after system reserves: at most 6.8 vCPU and 25.6 GiB" in violation.rule


def test_a_stack_without_pools_names_none():
    raw = changed(AWS, {"gpuPools": []})
    assert only(refused(raw)) == Violation("models[0].poolGroup", "l4", "must name a GPU pool group of this stack (none defined)")


def test_model_names_are_unique():
    raw = changed(AWS, {"models": [MODEL, MODEL], "gpuPools.0.maxGpus": 4})
    assert refused(raw).violations == [Violation("models", "mistral", "model names must be unique")]


# -- field rules ------------------------------------------------------------------------------------------

MODEL_FIELD_RULES = [
    ({"name": "Mistral"}, "models[0].name", "Mistral", "must be a DNS label"),
    ({"poolGroup": "L4 GPUs"}, "models[0].poolGroup", "L4 GPUs", "must be a DNS label"),
    ({"parametersBillion": 0}, "models[0].parametersBillion", 0, "Input should be greater than 0"),
    ({"precision": "fp4"}, "models[0].precision", "fp4", "Input should be 'bf16', 'fp16', 'fp8', 'int8', 'awq-4bit' or 'gptq-4bit'"),
    ({"gpusPerReplica": 9}, "models[0].gpusPerReplica", 9, "Input should be less than or equal to 8"),
    ({"maxReplicas": 0}, "models[0].maxReplicas", 0, "Input should be greater than or equal to 1"),
    ({"startupSeconds": 30}, "models[0].startupSeconds", 30, "Input should be greater than or equal to 60"),
    ({"engine": {"gpuMemoryUtilization": 0.99}}, "models[0].engine.gpuMemoryUtilization", 0.99, "Input should be less than or equal to 0.98"),
    ({"engine": {"maxNumBatchedTokens": 10}}, "models[0].engine.maxNumBatchedTokens", 10, "Input should be greater than or equal to 256"),
    ({"resources": {"memoryGib": 2}}, "models[0].resources.memoryGib", 2, "Input should be greater than or equal to 4"),
]


@pytest.mark.parametrize("change, key, value, rule", MODEL_FIELD_RULES, ids=[k for _, k, _, _ in MODEL_FIELD_RULES])
def test_model_field_rules(change, key, value, rule):
    violation = only(refused(with_model(**change)))
    assert (violation.key, violation.value) == (key, value) and rule in violation.rule, violation


@pytest.mark.parametrize("field", ["name", "source", "parametersBillion", "poolGroup"])
def test_required_model_fields(field):
    raw = changed(AWS, {f"models.0.{field}": DELETE})
    assert only(refused(raw)) == Violation(f"models[0].{field}", NOT_SET, "Field required")


# -- sources ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, rule",
    [
        ("huggingface.co/org/model", "must be hf://<org>/<model>, s3://<bucket>/<prefix> (AWS) or gs://<bucket>/<prefix> (Google Cloud)"),
        ("hf://just-a-name", "'hf://just-a-name' must be hf://<org>/<model>, a Hugging Face repository id"),
        # The grammar the weight fetcher applies too: a repository part cannot start with '-'.
        ("hf://org/-model", "'hf://org/-model' must be hf://<org>/<model>"),
        ("hf://org/model--x", "without '--' or '..'"),
        ("hf://org/model.git", "'hf://org/model.git' must be hf://<org>/<model>"),
        ("s3://UPPER/prefix", "the S3 bucket 'UPPER' must be 3-63 lowercase letters"),
        ("s3://weights-bucket", "must name the prefix the weights are under: s3://<bucket>/<prefix>"),
        ("s3://weights-bucket/a/../b", "the prefix 'a/../b' must be '/'-separated segments"),
        ("s3://weights-bucket/models/*", "the prefix 'models/*' must be"),
        ("s3://192.168.1.1/models", "not an IP address"),
    ],
)
def test_bad_sources_are_refused(source, rule):
    assert rule in problems(with_model(source=source))
    violation = only(refused(with_model(source=source)))
    assert (violation.key, violation.value) == ("models[0].source", source)


@pytest.mark.parametrize(
    "source, rule",
    [
        ("gs://weights-bucket", "must name the prefix the weights are under: gs://<bucket>/<prefix>"),
        ("gs://goog-weights/models", "the Cloud Storage bucket 'goog-weights' must be"),
        ("gs://my-google-weights/models", "the Cloud Storage bucket 'my-google-weights' must be"),
        ("gs://weights_bucket/models/*", "the prefix 'models/*' must be"),
    ],
)
def test_bad_gcs_sources_are_refused(source, rule):
    violation = only(refused(with_model(GCP, source=source)))
    assert (violation.key, violation.value) == ("models[0].source", source)
    assert rule in violation.rule, violation.rule


@pytest.mark.parametrize(
    "cloud, source",
    [
        ("aws", "hf://mistralai/Mistral-7B-Instruct-v0.3"),
        ("aws", "s3://weights-bucket/models/mistral"),
        ("gcp", "hf://mistralai/Mistral-7B-Instruct-v0.3"),
        ("gcp", "gs://weights_bucket/models/mistral"),
    ],
)
def test_sources_in_the_stack_cloud_store_or_on_hugging_face(cloud, source):
    assert parse(with_model(STACKS[cloud], source=source)).models[0].source == source


@pytest.mark.parametrize(
    "cloud, source, rule",
    [
        ("aws", "gs://bucket/prefix", "this stack's weights are in S3 (s3://) or on Hugging Face (hf://)"),
        ("gcp", "s3://bucket/prefix", "this stack's weights are in GCS (gs://) or on Hugging Face (hf://)"),
    ],
)
def test_sources_in_the_other_cloud_store_are_refused(cloud, source, rule):
    error = refused(with_model(STACKS[cloud], source=source))
    assert error.violations == [Violation("models[0].source", source, rule)]
    assert error.problems == [f'llm-platform:models[0].source: "{source}" is invalid (rule: {rule})']


# -- engine -----------------------------------------------------------------------------------------------


def test_engine_args_the_platform_sets_cannot_be_overridden():
    assert "'--port=9000' is set by the platform from the platform's Service port" in problems(with_model(engine={"extraArgs": ["--port=9000"]}))


def test_the_platform_builds_the_command_line_from_the_flags_it_owns():
    (model,) = parse(with_model(engine={"maxNumBatchedTokens": 2048, "prefixCaching": False, "extraArgs": ["--kv-cache-dtype", "fp8"]})).models
    args = vllm_args(model, model_dir="/models/mistral", port=8000)
    assert args == [
        "/models/mistral", "--served-model-name", "mistral", "--port", "8000", "--tensor-parallel-size", "1", "--max-model-len", "8192",
        "--gpu-memory-utilization", "0.9", "--max-num-seqs", "64", "--no-enable-prefix-caching", "--enable-chunked-prefill",
        "--uvicorn-log-level", "warning", "--max-num-batched-tokens", "2048", "--kv-cache-dtype", "fp8",
    ]  # fmt: skip
    # Every flag of the command line but the extra ones is one the platform owns.
    assert {arg for arg in args[:-2] if arg.startswith("-")} <= set(OWNED_FLAGS)


# Every spelling vLLM v0.31.0 accepts for a flag the platform sets: as given, `=value`, underscores,
# a JSON key, the `--no-` form, an argparse prefix, the short alias (also `=`, glued, and its prefix).
OVERRIDES = [
    "--tensor-parallel-size", "--tensor-parallel-size=2", "--tensor_parallel_size", "--tensor-parallel", "--tensor-par=2",
    "-tp", "-tp=2", "-tp2", "-t",
    "--gpu-memory-utilization=0.5", "--gpu_memory_utilization", "--max-model-len", "--max-model-len=4096", "--max_model_len=4096", "--max-model",
    "--port=9000", "--served-model-name", "--model=/weights", "--model", "--max-num-seqs=8", "--max-num-batched-tokens=1", "--uvicorn-log-level=debug",
    "--enable-prefix-caching", "--no-enable-prefix-caching", "--no-enable-chunked-prefill", "--enable_chunked_prefill",
]  # fmt: skip


@pytest.mark.parametrize("arg", OVERRIDES)
def test_a_flag_the_platform_sets_is_refused_in_any_spelling(arg):
    violation = only(refused(with_model(engine={"extraArgs": [arg, "2"] if not arg.startswith("--no-") else [arg]})))
    assert violation.key == "models[0].engine.extraArgs"
    assert f"'{arg}' " in violation.rule and ("is set by the platform from" in violation.rule)


RISKY = [
    "--trust-remote-code", "--trust_remote_code", "--trust-remote", "--no-trust-remote-code",
    "--middleware=evil.app", "--tool-parser-plugin=/tmp/x.py", "--reasoning-parser-plugin=x.py", "--logits-processors=a.B",
    "--worker-cls=evil.W", "--worker-extension-cls=evil.E", "--scheduler-cls=evil.S", "--distributed-executor-backend=evil.Executor",
    "--allowed-local-media-path=/", "--trust-request-chat-template", "--api-key=abc", "--api_key", "--hf-token=x", "--download-dir=/tmp",
    "--host=0.0.0.0", "--uds=/tmp/s", "--config=/tmp/more.yaml", "--io-processor-plugin=x",
    # More GPUs or nodes per replica than it requests, in every spelling vLLM v0.31.0 takes.
    "--pipeline-parallel-size=2", "--pipeline_parallel_size", "--pipeline-par=2", "-pp", "-pp=2", "-pp2",
    "--data-parallel-size=2", "-dp", "-dp2", "--data-parallel-size-local=2", "-dpl", "--nnodes=2", "-n", "-n2", "--node-rank=1", "-r",
    "--master-addr=10.0.0.1", "--data-parallel-address=10.0.0.1", "-dpa",
    '--kv-transfer-config={"kv_connector_module_path": "evil.mod"}', "--kv_transfer_config", "--ec-transfer-config=x", "--enable-log-requests",
]  # fmt: skip


@pytest.mark.parametrize("arg", RISKY)
def test_a_risky_flag_is_refused_naming_why(arg):
    violation = only(refused(with_model(engine={"extraArgs": [arg]})))
    assert violation.key == "models[0].engine.extraArgs" and f"'{arg}' " in violation.rule
    assert "is refused: it" in violation.rule or "engine.trustRemoteCode is true" in violation.rule


def test_trust_remote_code_is_an_explicit_opt_in_the_platform_passes_itself():
    (model,) = parse(with_model(engine={"trustRemoteCode": True})).models
    assert "--trust-remote-code" in vllm_args(model, model_dir="/m", port=8000)
    (default,) = parse(AWS).models
    assert "--trust-remote-code" not in vllm_args(default, model_dir="/m", port=8000)
    rule = only(refused(with_model(engine={"trustRemoteCode": True, "extraArgs": ["--trust-remote-code"]}))).rule
    assert "is passed by the platform when engine.trustRemoteCode is true" in rule


def test_other_engine_args_pass_verbatim():
    args = ["--kv-cache-dtype", "fp8", "--model-loader-extra-config={}", "-q", "awq", "-O3", "--max-logprobs=5", "--enforce-eager", "--compilation-config.level", "3"]
    assert parse(with_model(engine={"extraArgs": args})).models[0].engine.extra_args == args


# -- floor and burst --------------------------------------------------------------------------------------

# The seeds' production shape on AWS: an on-demand floor pool group and a spot-first burst pool group, with
# one or two burst replicas on weekdays 09:00-18:00 Korean time.
BURST_POOLS = [
    {"name": "a10g-baseline", "group": "a10g", "instanceTypes": ["g5.2xlarge"], "capacityTypes": ["on-demand"], "maxGpus": 2},
    {"name": "a10g-burst", "group": "a10g-burst", "instanceTypes": ["g5.2xlarge"], "capacityTypes": ["spot", "on-demand"], "maxGpus": 2},
]
BURST = {"poolGroup": "a10g-burst", "maxReplicas": 2, "schedule": {"timeZone": "Asia/Seoul", "replicas": 1}}
BURST_STACK = changed(stacks.AWS, {"gpuPools": BURST_POOLS, "models": [{**MODEL, "poolGroup": "a10g", "minReplicas": 2, "burst": BURST}]})
# On GKE a node pool is spot or on-demand: the floor gets an on-demand pool, the burst a spot one.
GKE_BURST_STACK = changed(
    stacks.GCP,
    {
        "gpuPools": [{**GKE_POOL, "name": "l4", "capacityTypes": ["on-demand"]}, {**GKE_POOL, "name": "l4-spot", "group": "l4-burst"}],
        "models": [{**MODEL, "burst": {**BURST, "poolGroup": "l4-burst"}}],
    },
)


@pytest.mark.parametrize("raw", [BURST_STACK, GKE_BURST_STACK], ids=["aws", "gcp"])
def test_the_seeds_floor_and_business_hours_burst_are_accepted(raw):
    (model,) = parse(raw).models
    schedule = model.burst.schedule
    assert (schedule.days, schedule.start, schedule.end, schedule.replicas) == (["mon", "tue", "wed", "thu", "fri"], "09:00", "18:00", 1)
    assert schedule.window.days == (1, 2, 3, 4, 5) and schedule.window.hours_per_month == 195.7


def burst_with(**changes) -> dict:
    return edited(BURST_STACK, "models.0.burst", **changes)


@pytest.mark.parametrize(
    "raw, key, value, rule",
    [
        # The floor must have on-demand capacity to run on.
        (
            edited(BURST_STACK, "gpuPools.0", capacityTypes=["spot"]),
            "models[0].poolGroup",
            "a10g",
            "the floor runs on on-demand capacity: the pool group must offer on-demand",
        ),
        (burst_with(poolGroup="a10g"), "models[0].burst.poolGroup", "a10g", "must differ from the model's poolGroup"),
        (burst_with(poolGroup="h100"), "models[0].burst.poolGroup", "h100", "must name a GPU pool group of this stack"),
        (edited(BURST_STACK, "gpuPools.1", capacityTypes=["on-demand"]), "models[0].burst.poolGroup", "a10g-burst", "the pool group must offer spot"),
        (burst_with(maxReplicas=3), "models[0].burst.maxReplicas", 3, "exceeds the 2 GPUs (maxGpus) of pool group a10g-burst"),
        (burst_with(schedule={"timeZone": "Asia/Seoul", "replicas": 3}), "models[0].burst.schedule.replicas", 3, "must not exceed burst.maxReplicas (2)"),
        (burst_with(schedule={"timeZone": "Asia/Seoul", "start": "18:00", "end": "09:00"}), "models[0].burst.schedule.end", "09:00", "later than start"),
    ],
    ids=["floor-without-on-demand", "same-group", "unknown-group", "burst-without-spot", "burst-too-big", "held-above-max", "window-backwards"],
)
def test_each_floor_and_burst_mistake_is_refused(raw, key, value, rule):
    violation = only(refused(raw))
    assert (violation.key, violation.value) == (key, value) and rule in violation.rule


@pytest.mark.parametrize(
    "schedule, key",
    [
        ({"timeZone": "Korea/Seoul"}, "timeZone"),
        ({"timeZone": "Asia/Seoul", "start": "9:00"}, "start"),
        ({"timeZone": "Asia/Seoul", "end": "25:00"}, "end"),
        ({"timeZone": "Asia/Seoul", "days": ["monday"]}, "days"),
        ({"timeZone": "Asia/Seoul", "days": ["mon", "mon"]}, "days"),
        ({"timeZone": "Asia/Seoul", "replicas": 0}, "replicas"),
        ({"start": "09:00"}, "timeZone"),
    ],
)
def test_a_malformed_schedule_is_refused_naming_its_field(schedule, key):
    assert f"llm-platform:models[0].burst.schedule.{key}" in problems(burst_with(schedule=schedule))


# -- capacity ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_minimum_replicas_of_all_models_fit_the_pool_group(cloud):
    second = {**MODEL, "name": "second", "minReplicas": 1, "maxReplicas": 1}
    parse(changed(STACKS[cloud], {"models": [MODEL, second]}))
    error = refused(changed(STACKS[cloud], {"models": [{**MODEL, "minReplicas": 2}, second]}))
    assert error.violations == [
        Violation("models", {"mistral": 2, "second": 1}, "the models on pool group l4 keep 3 GPUs busy at their minReplicas x gpusPerReplica, more than the 2 GPUs (maxGpus) of the group")
    ]


# -- weights in production --------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_outside_production_a_hugging_face_source_may_follow_a_branch(cloud):
    assert parse(with_model(STACKS[cloud], revision="main")).models[0].revision == "main"
    assert list(weights_violations([ModelConfig.model_validate(MODEL)], production=False)) == []


@pytest.mark.parametrize("revision", [None, "main", "v0.3", "0e9e39f", "0E9E39F249A16976918F6564B8830BC894C89659"])
def test_production_pins_a_hugging_face_source_to_a_full_commit(revision):
    pinned = ModelConfig.model_validate({**MODEL, "revision": "0e9e39f249a16976918f6564b8830bc894c89659"})
    assert list(weights_violations([pinned], production=True)) == []
    model = ModelConfig.model_validate({**MODEL, "revision": revision})
    assert list(weights_violations([pinned, model], production=True)) == [
        Violation(
            "models[1].revision",
            revision,
            "production pins hf://mistralai/Mistral-7B-Instruct-v0.3 to a commit: the full 40-character sha (a branch or tag serves whatever it points at that day)",
        )
    ]


def test_a_model_may_idle_at_zero_outside_production_behind_the_gateway_that_wakes_it():
    idle = with_model(minReplicas=0)
    assert "gateway" not in idle
    violation = only(refused(idle))
    assert (violation.key, violation.value) == ("models[0].minReplicas", 0) and "configure llm-platform:gateway" in violation.rule
    (model,) = parse(changed(idle, {"gateway": {"hostname": "llm.example.com"}})).models
    assert model.min_replicas == 0


# -- canaries ---------------------------------------------------------------------------------------------

NEW_REVISION = "1" * 40
CANARY = {"revision": NEW_REVISION, "engine": {"maxNumSeqs": 96}}


def production_with_canary(**canary) -> dict:
    from tests.llm_platform.config.test_aws import PRODUCTION

    merged = {key: value for key, value in {**CANARY, **canary}.items() if value is not DELETE}
    return edited(PRODUCTION, "models.0", canary=merged)


def test_a_production_canary_is_derived_from_its_model():
    (model,) = parse(production_with_canary()).models
    canary = canary_release(model)
    assert (canary.name, canary.served_name, canary.weights_name) == ("llama-canary", "llama", "llama-canary")
    assert (canary.source, canary.revision, canary.engine.max_num_seqs, canary.engine.max_model_len) == (model.source, NEW_REVISION, 96, 8192)
    assert (canary.min_replicas, canary.max_replicas, canary.burst, canary.canary, canary.pool_group) == (2, 2, None, None, "a10g")
    # The model's name is what clients send: the canary's vLLM serves under it.
    assert vllm_args(canary, model_dir="/models/llama-canary", port=8000)[1:3] == ["--served-model-name", "llama"]
    assert [release.name for release in releases([model])] == ["llama", "llama-canary"]
    assert (model.canary.weight, model.canary.check.window_minutes, model.canary.check.max_error_rate_percent) == (5, 30, 1)


def test_a_canary_of_engine_settings_only_reads_its_models_weights():
    (model,) = parse(production_with_canary(revision=DELETE)).models
    assert canary_release(model).weights_name == "llama"


def test_a_canary_of_another_source_does_not_inherit_the_models_revision():
    (model,) = parse(production_with_canary(revision=DELETE, engine=DELETE, source="s3://other-bucket/llama-ft")).models
    assert (canary_release(model).source, canary_release(model).revision) == ("s3://other-bucket/llama-ft", None)


def test_promotion_makes_the_canarys_identity_the_models():
    (model,) = parse(production_with_canary(image="docker.io/vllm/vllm-openai:v0.32.0@sha256:" + "a" * 64)).models
    after = promoted(model)
    assert (after.name, after.revision, after.engine.max_num_seqs, after.canary) == ("llama", NEW_REVISION, 96, None)
    assert after.image.endswith("a" * 64) and after.min_replicas == model.min_replicas


def test_a_canary_outside_production_is_refused():
    raw = edited(AWS, "models.0", canary=CANARY)
    violation = only(refused(raw))
    assert (violation.key, violation.value) == ("models[0].canary", "set")
    assert "production's release path; in staging change the model itself" in violation.rule


@pytest.mark.parametrize(
    ("canary", "key", "rule"),
    [
        ({"revision": DELETE, "engine": DELETE}, "models[0].canary", "must set at least one of source, revision, image, engine"),
        ({"revision": "0e9e39f249a16976918f6564b8830bc894c89659", "engine": DELETE}, "models[0].canary", "serves exactly what the model serves"),
        ({"replicas": 1}, "models[0].canary.replicas", "production keeps at least two replicas"),
        ({"revision": "main"}, "models[0].canary.revision", "production pins hf://meta-llama/Llama-3.1-8B-Instruct to a commit"),
        ({"poolGroup": "h100"}, "models[0].canary.poolGroup", "must name a GPU pool group of this stack (a10g)"),
        ({"source": "gs://bucket/llama", "revision": DELETE}, "models[0].canary.source", "this stack's weights are in S3"),
        # Two floor replicas and a third canary one do not fit the group's four GPUs.
        ({"replicas": 3}, "models", "keep 5 GPUs busy"),
    ],
)
def test_canary_rules(canary, key, rule):
    violation = only(refused(production_with_canary(**canary)))
    assert violation.key == key and rule in violation.rule, violation


def test_a_canary_may_not_take_another_models_name():
    from tests.llm_platform.config.test_aws import PRODUCTION

    raw = production_with_canary()
    raw["models"].append({**PRODUCTION["models"][0], "name": "llama-canary", "minReplicas": 0, "maxReplicas": 1})
    assert any(v.key == "models[0].canary" and "another model has the canary's name" in v.rule for v in refused(raw).violations)


@pytest.mark.parametrize("image", ["docker.io/vllm/vllm-openai:v0.32.0", "vllm/vllm-openai@sha256:abc"])
def test_an_image_must_be_pinned_by_digest(image):
    violation = only(refused(with_model(image=image)))
    assert violation.key == "models[0].image" and "pinned by digest" in violation.rule


@pytest.mark.parametrize("time_zone", ["localtime", "posixrules", "Factory", "Asia/Seoul\n", "/etc/localtime"])
def test_a_window_is_kept_in_a_zone_of_the_iana_database(time_zone):
    assert "llm-platform:models[0].burst.schedule.timeZone" in problems(burst_with(schedule={"timeZone": time_zone}))


@pytest.mark.parametrize("end", ["24:00", "23:60", "9:00", "18:00\n"])
def test_a_window_ends_at_a_time_cron_can_say(end):
    assert "llm-platform:models[0].burst.schedule.end" in problems(burst_with(schedule={"timeZone": "Asia/Seoul", "end": end}))
