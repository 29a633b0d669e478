"""A student ready to serve: ONNX export (fp32 and dynamic int8), a checked round trip, and one
predictor for PyTorch and ONNX Runtime with clear answers to bad input.

``export_folder(run)`` writes ``<run>/onnx/``: ``model.onnx`` (dynamic batch and sequence axes),
``model.int8.onnx`` (with ``int8``: ONNX Runtime's dynamic quantisation, int8 weights of every
MatMul / Gemm / LSTM / embedding, activations quantised on the fly; convolutions stay fp32, see
:data:`INT8_KEEP_FLOAT`), the tokenizer or word vocabulary, and
``export.json`` (task, labels, inputs, files, and the check: the exported models against PyTorch on
the dev set).

The BiLSTM reads packed sequences in PyTorch, which ONNX cannot express; :class:`OnnxBiLSTM`
computes the same two final states without packing: the forward LSTM's output at each row's last
word, and the backward LSTM run over each row reversed within its length. Tests check that it
equals the packed student.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from textdistill.data.encode import WordVocab
from textdistill.data.spec import Example, TaskSpec
from textdistill.data.windows import Reading
from textdistill.diskio import AGAIN
from textdistill.errors import TextdistillError
from textdistill.models.bundle import Student
from textdistill.models.teacher import per_example
from textdistill.train.checkpoint import atomic_folder

BACKENDS = ("torch", "onnx", "onnx-int8")
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}


class LogitsOnly(nn.Module):
    """A transformer (or CNN) student as ONNX sees it: token (word) tensors in, logits ``(B, C)`` out."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.model(**dict(zip(self.names, inputs, strict=True))).logits


class OnnxBiLSTM(nn.Module):
    """The BiLSTM student without packed sequences (same weights, same logits)."""

    def __init__(self, student: nn.Module):
        super().__init__()
        self.student = student
        lstm = student.lstm
        self.forward_lstm = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True)
        self.backward_lstm = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True)
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(self.forward_lstm, name).data.copy_(getattr(lstm, name).data)
            getattr(self.backward_lstm, name).data.copy_(getattr(lstm, name + "_reverse").data)

    def encode(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        """``embedded`` (B, L, E), ``lengths`` (B,) -> ``[h_forward, h_backward]`` (B, 2H)."""
        lengths = lengths.clamp(min=1)
        hidden = self.forward_lstm.hidden_size
        position = torch.arange(embedded.shape[1], device=embedded.device).unsqueeze(0)  # (1, L)
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, hidden)  # (B, 1, H)
        forward_out, _ = self.forward_lstm(embedded)
        h_forward = forward_out.gather(1, last).squeeze(1)
        inside = position < lengths.unsqueeze(1)
        reverse = torch.where(inside, lengths.unsqueeze(1) - 1 - position, position)  # (B, L)
        reversed_rows = embedded.gather(1, reverse.unsqueeze(-1).expand(-1, -1, embedded.shape[-1]))
        backward_out, _ = self.backward_lstm(reversed_rows)
        h_backward = backward_out.gather(1, last).squeeze(1)
        return torch.cat([h_forward, h_backward], dim=-1)

    def forward(self, word_ids: Tensor, word_lengths: Tensor, *pair: Tensor) -> Tensor:
        s = self.student
        feature = self.encode(s.embedding(word_ids), word_lengths)
        if pair:
            h2 = self.encode(s.embedding(pair[0]), pair[1])
            feature = torch.cat([feature, h2, feature * h2, (feature - h2).abs()], dim=-1)
        return s.head(feature, output_features=False)[0]


def _input_names(student: Student, spec: TaskSpec) -> tuple[str, ...]:
    if student.vocab is not None:
        return ("word_ids", "word_lengths") + (("word_ids_b", "word_lengths_b") if spec.is_pair else ())
    probe = student.tokenizer("a", "b" if spec.is_pair else None)
    return tuple(k for k in ("input_ids", "attention_mask", "token_type_ids") if k in probe)


def export_onnx(student: Student, spec: TaskSpec, path: Path, opset: int = 17) -> tuple[str, ...]:
    """Write ``student`` to ``path`` as ONNX with dynamic batch and sequence axes; its input names."""
    model = student.model.eval()
    names = _input_names(student, spec)
    example = [Example("a good film", "a bad film" if spec.is_pair else None)] * 2
    batch = next(iter(student.loader(example, 2)))
    inputs = tuple(batch[n] for n in names)
    wrapped = OnnxBiLSTM(model) if student.kind == "bilstm" else LogitsOnly(model, names)
    axes = {
        n: {0: "batch"} if n.startswith("word_lengths") else {0: "batch", 1: f"length_{n}"} for n in names
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            wrapped.eval(),
            inputs,
            str(path),
            input_names=list(names),
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    return names


# op types left in fp32 by --int8: with ONNX Runtime 1.32's ConvInteger the CNN student's int8 model
# ran 1,521 examples/s at batch 32 on movie-sentiment, with fp32 convolutions 4,244 (results/frontier.md
# at commit 0a0382d, then now; both slower than PyTorch fp32 there, 4,929)
INT8_KEEP_FLOAT = ("Conv",)


def quantize_int8(source: Path, target: Path) -> list[str]:
    """Dynamic int8 quantisation (weights int8, activations quantised per batch) by ONNX Runtime,
    of every op type it quantises but :data:`INT8_KEEP_FLOAT`; returns the op types quantised."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    ops = [op for op in IntegerOpsRegistry if op not in INT8_KEEP_FLOAT]
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=ops)
    return ops


def onnx_session(path: Path, threads: int | None = None):
    import os

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # a truncated or foreign file: ONNX Runtime's own errors name no file
        folder = next((p.parent for p in path.parents if p.name == "onnx"), path.parent)  # the run folder
        raise TextdistillError(
            f"{path} does not load in ONNX Runtime ({' '.join(str(err).split())[:200]}): export it again "
            f"with `textdistill export {folder}`"
        ) from err


@dataclass
class Predictor:
    """Labels and probabilities (scores for regression) from a student folder, on one backend.
    A multi-label model answers every label whose sigmoid reaches ``threshold`` (chosen on dev,
    recorded in the run's manifest)."""

    student: Student
    spec: TaskSpec
    backend: str = "torch"
    session: object | None = None
    names: tuple[str, ...] = ()
    threshold: float = 0.5

    @classmethod
    def open(
        cls,
        folder: str | Path,
        backend: str = "torch",
        task: str | None = None,
        reading: Reading | None = None,
    ) -> Predictor:
        """A teacher folder, a distillation run, or one ``task`` of a multi-task run; ONNX
        backends read :func:`onnx_dir`. Long texts are read as the run reads them (its
        manifest's reading), or as ``reading`` says (a teacher over windows, say): the ONNX
        model then runs on each window, and the windows combine as in PyTorch."""
        from textdistill.artifacts import open_run

        if backend not in BACKENDS:
            raise TextdistillError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        opened = open_run(folder, task, reading=reading)
        student, spec, task_name = opened.student, opened.spec, opened.spec.name
        threshold = float(opened.manifest.get("threshold") or 0.5)
        if backend == "torch":
            return cls(student, spec, backend, threshold=threshold)
        path = onnx_dir(folder, student, task_name) / ONNX_FILES[backend]
        if not path.exists():
            flag = (" --int8" if backend == "onnx-int8" else "") + (
                f" --task {task_name}" if student.kind == "multitask" else ""
            )
            raise TextdistillError(f"{path} does not exist: run `textdistill export {folder}{flag}` first")
        session = onnx_session(path)
        return cls(student, spec, backend, session, tuple(i.name for i in session.get_inputs()), threshold)

    def check(
        self,
        texts: list[str],
        pairs: list[str | None] | None,
        truncate: bool = False,
        where: list[str] | None = None,
    ) -> list[Example]:
        """The examples to score; every problem of the input at once, each with ``where[i]`` (the
        file and line it came from, say) or its row number."""
        pairs = pairs if pairs is not None else [None] * len(texts)
        problems = []
        if not texts:
            problems.append("no text given")
        for i, (text, pair) in enumerate(zip(texts, pairs, strict=True), 1):
            where_ = f"{where[i - 1]}: " if where else f"row {i}: " if len(texts) > 1 else ""
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{where_}the text is empty")
                continue
            if self.spec.is_pair and (pair is None or not str(pair).strip()):
                problems.append(
                    f"{where_}{self.spec.name} compares two texts: give the second (--pair or text_pair)"
                )
                continue
            if not self.spec.is_pair and pair is not None:
                problems.append(f"{where_}{self.spec.name} reads one text, but a second one was given")
                continue
            if self.student.reading.mode != "truncate" or truncate:
                continue  # windows read it all; head_tail is a cut the run chose
            length = self.length(text, pair)
            if length > self.student.max_length:
                unit = "words" if isinstance(self.student.vocab, WordVocab) else "tokens"
                other = (
                    "--reading head_tail"
                    if self.student.vocab is not None
                    else "--reading windows (all of it)"
                )
                problems.append(
                    f"{where_}the input is {length} {unit} long; the model reads at most "
                    f"{self.student.max_length}: shorten it, pass --truncate (its first {unit}), or {other}"
                )
        if problems:
            raise TextdistillError(("\n" if where else "; ").join(problems))
        return [Example(t, p) for t, p in zip(texts, pairs, strict=True)]

    def length(self, text: str, pair: str | None) -> int:
        if self.student.vocab is not None:
            vocab = self.student.vocab
            return max(len(vocab.encode(text)), len(vocab.encode(pair)) if pair else 0)
        return len(self.student.tokenizer(text, pair)["input_ids"])

    def logits(self, examples: list[Example], batch_size: int = 64) -> np.ndarray:
        """``(N, C)`` logits in input order. The examples are batched shortest first (by encoded
        length), so a batch pads to a length near its own rows' (the gain over file order is
        measured in results/frontier.md, *Length bucketing at serving time*), and the rows are put
        back in input order. A teacher batches as the teacher cache does: its logits here equal
        its cached ones."""
        order, loader = self.student.by_length(examples, batch_size)
        outs = []
        for batch in loader:
            if self.session is None:
                model = self.student.model.eval()
                with torch.inference_mode():
                    inputs = {k: batch[k] for k in model.input_names if k in batch}
                    outs.append(model(**inputs).logits.float().numpy())
            else:
                outs.append(self.session.run(None, {n: batch[n].numpy() for n in self.names})[0])
        by_length = np.concatenate(outs)
        logits = np.empty_like(by_length)
        logits[order] = by_length  # rows (windows of a windowed reading) in dataset order, then per text
        rows = torch.from_numpy(logits)
        return per_example(rows, loader.dataset.dataset, self.student.model, self.spec.multi_label).numpy()

    def predict(
        self,
        texts: list[str],
        pairs: list[str | None] | None = None,
        truncate: bool = False,
        where: list[str] | None = None,
    ) -> list[dict]:
        """One ``{"label", "probabilities"}`` (or ``{"score"}``) per text; ``where`` names each
        input in error messages (``FILE:LINE``)."""
        return self.answers(self.logits(self.check(texts, pairs, truncate, where)))

    def answers(self, logits: np.ndarray) -> list[dict]:
        """:meth:`predict`'s answers for logits ``(N, C)``: a multi-label task's are ``{"labels":
        [names at or above the threshold], "probabilities": {name: sigmoid}}``."""
        if self.spec.labels is None:
            return [{"score": float(row[0])} for row in logits]
        if self.spec.multi_label:
            probs = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
            return [
                {
                    "labels": [n for n, v in zip(self.spec.labels, p, strict=True) if v >= self.threshold],
                    "probabilities": {
                        n: round(float(v), 6) for n, v in zip(self.spec.labels, p, strict=True)
                    },
                }
                for p in probs
            ]
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
        return [
            {
                "label": self.spec.labels[int(p.argmax())],
                "probabilities": {
                    name: round(float(v), 6) for name, v in zip(self.spec.labels, p, strict=True)
                },
            }
            for p in probs
        ]


def onnx_dir(folder: str | Path, student: Student, task: str) -> Path:
    """Where a folder's ONNX export lives: ``<folder>/onnx``, per task (``onnx/<task>``) in a
    multi-task run."""
    return Path(folder) / "onnx" / (task if student.kind == "multitask" else "")


def export_folder(
    folder: str | Path, int8: bool = False, check_examples: int | None = None, task: str | None = None
) -> dict:
    """Export a run's student (or a teacher, or one ``task`` of a multi-task run: the shared
    encoder with that task's head) to :func:`onnx_dir` and check it on the dev set."""
    from textdistill.artifacts import open_run

    folder = Path(folder)
    opened = open_run(folder, task)
    student, spec = opened.student, opened.spec
    task_data = opened.task_data()
    out = onnx_dir(folder, student, spec.name)
    threshold = opened.manifest.get("threshold")
    with atomic_folder(out, then=AGAIN) as staging:  # a failed export (a full disk) keeps the previous one
        return _export_into(staging, out, student, spec, task_data, int8, check_examples, threshold)


def _export_into(
    out: Path,
    final: Path,
    student: Student,
    spec: TaskSpec,
    task_data: Any,
    int8: bool,
    check_examples: int | None,
    threshold: float | None = None,
) -> dict:
    """Write the ONNX files, the vocabulary or tokenizer and ``export.json`` into ``out`` (to be
    moved to ``final``) and check every backend against PyTorch on the dev set; returns the record
    (a multi-label model's ``threshold`` with it: its served label sets are checked at it)."""
    from textdistill.evaluation.metrics import compute_metrics, label_sets

    started = time.perf_counter()
    names = export_onnx(student, spec, out / ONNX_FILES["onnx"])
    files = {"onnx": ONNX_FILES["onnx"]}
    int8_ops = None
    if int8:
        int8_ops = quantize_int8(out / ONNX_FILES["onnx"], out / ONNX_FILES["onnx-int8"])
        files["onnx-int8"] = ONNX_FILES["onnx-int8"]
    if student.vocab is not None:
        student.vocab.save(out / "vocab.json")
    else:
        student.tokenizer.save_pretrained(out)
    seconds = time.perf_counter() - started
    split = task_data.eval_splits[0]
    examples = task_data.splits[split][:check_examples]
    labels = np.array([e.label for e in examples])
    reference = Predictor(student, spec).logits(examples)
    check: dict = {"split": split, "examples": len(examples)}
    check["torch"] = compute_metrics(spec, reference, labels, threshold)
    for backend, name in files.items():
        session = onnx_session(out / name)
        got = Predictor(student, spec, backend, session, names).logits(examples)
        entry = {
            **compute_metrics(spec, got, labels, threshold),
            "max_abs_logit_diff": float(np.abs(got - reference).max()),
            "size_mb": round((out / name).stat().st_size / 1e6, 2),
        }
        if spec.multi_label:  # the same label set for each text
            t = 0.5 if threshold is None else threshold
            entry["same_prediction"] = float((label_sets(got, t) == label_sets(reference, t)).all(1).mean())
        elif spec.labels is not None:
            entry["same_prediction"] = float((got.argmax(1) == reference.argmax(1)).mean())
        check[backend] = entry
    record = {
        "kind": student.kind,
        "folder": str(final),
        "task": spec.to_dict(),
        "max_length": student.max_length,
        "reading": student.reading.record(),  # windows: run the model per window, combine (data.windows)
        **({"threshold": threshold} if spec.multi_label else {}),
        "inputs": list(names),
        "files": files,
        "int8_op_types": int8_ops,
        "export_seconds": round(seconds, 1),
        "check": check,
    }
    (out / "export.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
