"""The inference options every command that runs a model shares: device, batch, memory budget, runtime."""

from __future__ import annotations

import argparse

from ..errors import InputError
from ..onnxbackend import RUNTIMES  # onnxbackend loads torch and onnxruntime only when a session is built
from ..srjob import FORWARD_MODELS, EngineOptions


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("inference")
    group.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    group.add_argument("--batch-size", type=int,
                       help="slices per batch (default: 1 on the CPU, from --memory-mb on CUDA)")
    group.add_argument("--memory-mb", type=float, default=2048.0, help="activation memory budget (default 2048)")
    group.add_argument("--runtime", default="torch", choices=RUNTIMES,
                       help="what runs the model on the CPU: torch (default), onnxruntime (pip install "
                       "quantsr[onnx]; CUDA always runs torch) or auto (onnxruntime on the CPU if installed)")
    group.add_argument("--fast-consistency", type=float, default=None, metavar="MM",
                       help="keep the output's coarse level (scale MM; default: the model's own setting, chosen on "
                       "validation — `quantsr model-info` — else 1) on the fast scan's, so DL cannot shift a "
                       "lesion's or region's mean away from what was measured (docs/generalization.md); 0: the raw "
                       "network output")
    group.add_argument("--fast-consistency-forward", choices=FORWARD_MODELS, default=None,
                       help="what the output is compared with the fast scan through: identity (the output itself) "
                       "or acquisition (the output as the fast acquisition's k-space window would have seen it, "
                       "which leaves edges the fast scan blurred sharp); default: the model's own setting, else "
                       "identity")


def engine_options(args: argparse.Namespace, force_kind: bool = False) -> EngineOptions:
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.fast_consistency is not None and args.fast_consistency < 0:
        raise InputError(f"--fast-consistency must be 0 (off) or a positive σ in mm, got {args.fast_consistency:g}")
    if args.memory_mb <= 0:
        raise InputError(f"--memory-mb must be positive, got {args.memory_mb:g}")
    return EngineOptions(device=args.device, batch_size=args.batch_size, memory_budget_mb=args.memory_mb,
                         runtime=args.runtime, force_kind=force_kind,
                         fast_consistency_mm=args.fast_consistency,
                         fast_consistency_forward=args.fast_consistency_forward)
