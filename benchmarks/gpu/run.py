"""imgcls on a GPU against a hand-tuned PyTorch loop and timm: every row of BENCHMARKS.md's GPU section, one run.

    python benchmarks/gpu/run.py --out DIR            # on a CUDA machine (benchmarks/gpu/run.sh)
    python benchmarks/gpu/run.py --out DIR --quick    # a dry run of every row, tiny sizes (CPU is fine)

Each contender runs in its own process with a time limit; rows are written to ``DIR/results.jsonl`` as
they finish (a run cut short keeps what it measured) and ``DIR/results.md`` at the end. All rows use
one GPU, bf16 autocast, channels_last for ResNet-50 and the same batch per row. A row that fails
records its error and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
R50 = 'configs/resnet/resnet50_8xb32_in1k.py'
VIT = 'configs/vision_transformer/vit-base-p16_pt-64xb64_in1k-224.py'

JPEG_CONFIG = """
_base_ = ['{repo}/configs/_base_/models/resnet50.py', '{repo}/configs/_base_/default_runtime.py']
model = dict(head=dict(num_classes={classes}))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', size=224),
    dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
    dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label']),
]
data = dict(samples_per_gpu={batch}, workers_per_gpu={workers},
            train=dict(type='CustomDataset', data_prefix='{data}', pipeline=train_pipeline))
evaluation = dict(interval=0)
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='fixed')
runner = dict(type='IterBasedRunner', max_iters={iters})
checkpoint_config = dict(interval=100000)
log_config = dict(interval={interval}, hooks=[dict(type='TextLoggerHook')])
"""


class Gpu:
    """GPU utilisation samples (NVML), taken only while ``active`` is set."""

    def __init__(self):
        self.samples: list[int] = []
        self.active = threading.Event()
        self._done = threading.Event()
        try:
            import pynvml
            pynvml.nvmlInit()
            self._handle, self._nvml = pynvml.nvmlDeviceGetHandleByIndex(0), pynvml
            threading.Thread(target=self._run, daemon=True).start()
        except Exception:  # noqa: BLE001 - no NVML (a CPU dry run): no utilisation column
            self._nvml = None

    def _run(self):
        while not self._done.is_set():
            if self.active.is_set():
                self.samples.append(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
            time.sleep(0.1)

    def take(self) -> float | None:
        samples, self.samples = self.samples, []
        return round(sum(samples) / len(samples), 1) if samples else None


class Run:
    """Runs the rows, each in a child process, and records them."""

    def __init__(self, out: Path, quick: bool):
        self.out, self.quick, self.rows = out, quick, []
        self.log = open(out / 'log.txt', 'a')  # noqa: SIM115 - open for the whole run
        self.env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', ''),
                        PYTHONUNBUFFERED='1')
        self.gpu = Gpu()

    def child(self, name: str, cmd: list[str], timeout: float, watch: Path | None = None) -> str | None:
        """Run ``cmd``; its output goes to the log. With ``watch``, GPU samples start once that file exists."""
        self.log.write(f'\n=== {name}: {" ".join(cmd)}\n')
        self.log.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)  # its own group: a time-out ends its children too
        if watch is not None:
            threading.Thread(target=self._activate_when, args=(watch, proc), daemon=True).start()
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            output += f'\n[killed after {timeout:.0f} s]'
        self.gpu.active.clear()
        self.log.write(output + f'\n[{name}: exit {proc.returncode}, {time.perf_counter() - start:.1f} s]\n')
        self.log.flush()
        return output if proc.returncode == 0 else None

    def _activate_when(self, path: Path, proc: subprocess.Popen) -> None:
        while proc.poll() is None:
            if path.exists() and path.stat().st_size > 0:
                self.gpu.active.set()
                return
            time.sleep(0.05)

    def record(self, row: str, contender: str, **values) -> None:
        entry = dict(row=row, contender=contender, **values)
        self.rows.append(entry)
        with open(self.out / 'results.jsonl', 'a') as fh:
            fh.write(json.dumps(entry) + '\n')
        print(json.dumps(entry), flush=True)

    def peer(self, row: str, contender: str, task: str, *args: str, timeout: float = 180) -> None:
        wall = time.perf_counter()
        out = self.child(f'{row}/{contender}', [sys.executable, str(HERE / 'peers.py'), task,
                                                '--lib', contender, *args], timeout)
        result = _last_json(out, 'RESULT ')
        if result is None:
            self.record(row, contender, error='failed: see log.txt')
            return
        self.record(row, contender, wall_s=round(time.perf_counter() - wall, 1), **result)

    def imgcls_bench(self, row: str, config: str, *args: str, contender: str = 'imgcls', timeout: float = 240):
        wall = time.perf_counter()
        out = self.child(f'{row}/{contender}', [sys.executable, '-m', 'imgcls', 'benchmark', config, '--json',
                                                *args], timeout)
        result = _last_json(out, '{')
        if result is None:
            self.record(row, contender, error='failed: see log.txt')
            return
        self.record(row, contender, wall_s=round(time.perf_counter() - wall, 1), **result)


def _last_json(output: str | None, prefix: str) -> dict | None:
    for line in reversed((output or '').splitlines()):
        if line.startswith(prefix):
            try:
                return json.loads(line[len('RESULT '):] if prefix == 'RESULT ' else line)
            except json.JSONDecodeError:
                return None
    return None


def environment(run: Run) -> None:
    probe = ('import json, torch, torchvision; import timm; d = {"torch": torch.__version__, '
             '"torchvision": torchvision.__version__, "timm": timm.__version__, "cuda": torch.version.cuda, '
             '"gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None, '
             '"bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported()}\n'
             'try:\n import onnxruntime as ort; d["onnxruntime"] = ort.__version__; '
             'd["ort_providers"] = ort.get_available_providers()\nexcept ImportError: d["onnxruntime"] = None\n'
             'print(json.dumps(d))')
    info = _last_json(run.child('environment', [sys.executable, '-c', probe], 120), '{') or {}
    info['cpu_cores'] = os.cpu_count()
    run.record('environment', '-', **info)


def synthetic_rows(run: Run, batch: int, iters: list[str]) -> None:
    run.imgcls_bench('resnet50 train synthetic', R50, '--modes', 'train', '--batch-size', str(batch), *iters)
    for lib in ('plain', 'timm'):
        run.peer('resnet50 train synthetic', lib, 'synth', '--batch', str(batch), *iters)


def inference_rows(run: Run, batch: int, iters: list[str]) -> None:
    run.imgcls_bench('resnet50 inference', R50, '--modes', 'inference', '--batch-size', str(batch), *iters)
    run.peer('resnet50 inference', 'timm', 'infer', '--batch', str(batch), *iters)


def vit_rows(run: Run, batch: int, iters: list[str]) -> None:
    run.imgcls_bench('vit-b/16 train synthetic', VIT, '--modes', 'train', '--batch-size', str(batch), *iters)
    run.peer('vit-b/16 train synthetic', 'timm', 'synth', '--arch', 'vit_b16', '--batch', str(batch),
             *iters)


def ddp_row(run: Run, tmp: Path, epochs: int) -> None:
    """The README's main job on the GPU under torchrun (NCCL), evaluation included: the CUDA path end to end."""
    work = tmp / 'ddp'
    wall = time.perf_counter()
    out = run.child('ddp', [sys.executable, '-m', 'torch.distributed.run', '--nproc-per-node', '1', '-m', 'imgcls',
                            'train', 'configs/resnet/resnet18_digits.py', '--work-dir', str(work), '--cfg-options',
                            f'runner.max_epochs={epochs}'], 300)
    log = work / 'log.jsonl'
    records = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    evals = [r for r in records if r.get('mode') == 'val']
    if out is None or not evals:
        run.record('digits main job, torchrun (NCCL)', 'imgcls', error='failed: see log.txt')
        return
    train = [r for r in records if r.get('mode') == 'train']
    run.record('digits main job, torchrun (NCCL)', 'imgcls', wall_s=round(time.perf_counter() - wall, 1),
               epochs=epochs, last_eval=evals[-1], img_per_s=max(r['img_per_s'] for r in train))


def compile_row(run: Run, batch: int, iters: list[str]) -> None:
    run.imgcls_bench('resnet50 train synthetic', R50, '--modes', 'train', '--batch-size', str(batch), '--compile',
                     *iters, contender='imgcls + torch.compile', timeout=240)


def jpeg_rows(run: Run, tmp: Path, images: int, classes: int, batch: int, steps: int, workers: int) -> None:
    data = tmp / 'jpegs'
    if run.child('make jpegs', [sys.executable, str(HERE / 'make_jpegs.py'), str(data), '--images', str(images),
                                '--classes', str(classes)], 300) is None:
        run.record('resnet50 train from JPEG', '-', error='could not write the JPEG folder')
        return
    interval = max(1, steps // 6)
    config = tmp / 'r50_jpeg.py'
    config.write_text(JPEG_CONFIG.format(repo=REPO, classes=classes, batch=batch, workers=workers, data=data,
                                         iters=steps + interval, interval=interval))
    work = tmp / 'work'
    wall = time.perf_counter()
    out = run.child('jpeg/imgcls', [sys.executable, '-m', 'imgcls', 'train', str(config), '--work-dir', str(work)],
                    600, watch=work / 'log.jsonl')
    util = run.gpu.take()
    records = [json.loads(x) for x in (work / 'log.jsonl').read_text().splitlines()] if out is not None else []
    train = [r for r in records if r.get('mode') == 'train'][1:]  # the first window holds start-up
    if not train:
        run.record('resnet50 train from JPEG', 'imgcls', error='failed: see log.txt')
    else:
        run.record('resnet50 train from JPEG', 'imgcls', wall_s=round(time.perf_counter() - wall, 1),
                   img_per_s=sum(r['img_per_s'] for r in train) / len(train),
                   loader_wait_share=sum(r['data_share'] for r in train) / len(train), gpu_util=util,
                   peak_memory_gb=max(r.get('memory_mb', 0) for r in train) / 1024)
    for lib in ('plain', 'timm'):
        run.peer('resnet50 train from JPEG', lib, 'jpeg', '--data', str(data), '--classes', str(classes),
                 '--batch', str(batch), '--iters', str(steps), '--warmup', str(interval), '--workers', str(workers),
                 timeout=300)
    run.imgcls_bench('resnet50 loader headroom', str(config), '--modes', 'train', '--batch-size', str(batch),
                     '--data', str(steps), '--iters', '2' if run.quick else '10', '--warmup', '1' if run.quick else '5',
                     '--repeats', '1', timeout=300)
    decode_row(run, data, batch)


DECODE_PROBE = """
import json, sys, time, torch, torchvision
from pathlib import Path
from torchvision.io import decode_jpeg
from torchvision.transforms import v2
files = sorted(Path(sys.argv[1]).rglob('*.jpg'))[:int(sys.argv[2])]
raw = [torchvision.io.read_file(str(f)) for f in files]
batch = int(sys.argv[3])
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
crop = v2.Compose([v2.RandomResizedCrop(224, antialias=True), v2.RandomHorizontalFlip()])
def run():
    for i in range(0, len(raw), batch):
        imgs = decode_jpeg(raw[i:i + batch], device=dev)
        torch.stack([crop(im) for im in imgs])
run()
if dev == 'cuda': torch.cuda.synchronize()
t = time.perf_counter(); run()
if dev == 'cuda': torch.cuda.synchronize()
print(json.dumps({'img_per_s': len(raw) / (time.perf_counter() - t), 'device': dev, 'images': len(raw)}))
"""


def decode_row(run: Run, data: Path, batch: int) -> None:
    """Batched nvJPEG decode + per-image crop on the GPU, in the training process: the candidate GPU data path."""
    out = run.child('gpu decode', [sys.executable, '-c', DECODE_PROBE, str(data), str(8 * batch), str(batch)], 180)
    result = _last_json(out, '{')
    run.record('jpeg decode + RandomResizedCrop, one process', 'torchvision.io on the GPU',
               **(result or {'error': 'failed: see log.txt'}))


def ort_row(run: Run, batch: int) -> None:
    probe = ('import onnxruntime as ort, json; print(json.dumps({"cuda_ep": '
             '"CUDAExecutionProvider" in ort.get_available_providers()}))')
    has = _last_json(run.child('ort probe', [sys.executable, '-c', probe], 60), '{') or {}
    if not has.get('cuda_ep'):
        run.record('resnet50 inference', 'ONNX Runtime GPU',
                   error='not measured: this machine\'s onnxruntime has no CUDAExecutionProvider')
        return
    out = run.child('ort', [sys.executable, '-c', ORT_PROBE, str(batch)], 300)
    run.record('resnet50 inference', 'ONNX Runtime GPU (fp16 model)',
               **(_last_json(out, '{') or {'error': 'failed: see log.txt'}))


ORT_PROBE = """
import io, json, sys, time, numpy as np, torch, torchvision, onnxruntime as ort
batch = int(sys.argv[1])
model = torchvision.models.resnet50().eval().half().cuda()
buf = io.BytesIO()
torch.onnx.export(model, torch.randn(1, 3, 224, 224).half().cuda(), buf, input_names=['x'], output_names=['y'],
                  dynamic_axes={'x': {0: 'n'}}, dynamo=False)
sess = ort.InferenceSession(buf.getvalue(), providers=['CUDAExecutionProvider'])
x = np.random.rand(batch, 3, 224, 224).astype(np.float16)
for _ in range(5): sess.run(None, {'x': x})
t = time.perf_counter(); n = 10
for _ in range(n): sess.run(None, {'x': x})
print(json.dumps({'img_per_s': batch * n / (time.perf_counter() - t), 'note': 'host numpy in and out, fp16'}))
"""


def write_markdown(run: Run) -> None:
    lines = ['| row | contender | img/s | detail |', '|---|---|---|---|']
    for r in run.rows:
        if r['row'] == 'environment':
            continue
        ips = r.get('img_per_s')
        if isinstance(ips, dict):
            ips = next(iter(ips.values()), None)
        detail = {k: v for k, v in r.items() if k in ('loader_wait_share', 'gpu_util', 'peak_memory_gb', 'wall_s',
                                                      'loader_headroom', 'loader_img_per_s', 'error', 'settings')}
        lines.append(f'| {r["row"]} | {r["contender"]} | {ips:.1f} | {json.dumps(detail)} |' if ips is not None
                     else f'| {r["row"]} | {r["contender"]} | - | {json.dumps(detail)} |')
    (run.out / 'results.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', type=Path, required=True)
    p.add_argument('--quick', action='store_true', help='tiny sizes: checks that every row runs')
    p.add_argument('--rows', nargs='+', default=['env', 'synth', 'ddp', 'infer', 'jpeg', 'vit', 'ort', 'compile'])
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    run = Run(args.out, args.quick)
    q = args.quick
    iters = ['--iters', '2', '--warmup', '1', '--repeats', '1'] if q else ['--iters', '20', '--warmup', '10',
                                                                           '--repeats', '3']
    batch = 8 if q else 256
    tmp = Path(tempfile.mkdtemp(prefix='imgcls-gpu-'))
    try:
        for name in args.rows:
            if name == 'env':
                environment(run)
            elif name == 'synth':
                synthetic_rows(run, batch, iters)
            elif name == 'infer':
                inference_rows(run, batch, iters)
            elif name == 'vit':
                vit_rows(run, 4 if q else 128, iters)
            elif name == 'jpeg':
                jpeg_rows(run, tmp, 64 if q else 10240, 4 if q else 100, batch, 4 if q else 36,
                          2 if q else max(2, (os.cpu_count() or 4) - 2))
            elif name == 'ddp':
                ddp_row(run, tmp, 1 if q else 5)
            elif name == 'compile':
                compile_row(run, batch, iters)
            elif name == 'ort':
                ort_row(run, batch)
    finally:
        write_markdown(run)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
