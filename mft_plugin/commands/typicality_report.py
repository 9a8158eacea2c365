"""`allennlp mft-typicality`: the paper's Table 5 and a histogram of the scores per domain."""
import argparse
import json
import sys
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional

from allennlp.commands.subcommand import Subcommand

from mft_plugin.callbacks.prototypes import SCORES_FILE


@Subcommand.register("mft-typicality")
class MftTypicality(Subcommand):
    """
    Reads `typicality.jsonl` from a stage-1 serialization directory and prints, per domain, the
    instances with the lowest and the highest typicality (label and text), as Table 5 of the
    paper does; writes a histogram of the scores per domain as a PNG.
    """

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Lowest and highest typicality instances per domain (Table 5), and a histogram."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument(
            "serialization_dir", help="a stage-1 MFT run (holds typicality.jsonl)"
        )
        subparser.add_argument(
            "-n", "--count", type=int, default=3, help="instances per end and domain"
        )
        subparser.add_argument("--width", type=int, default=100, help="characters of text to show")
        subparser.add_argument(
            "--output",
            default=None,
            help="the histogram PNG (default: SERIALIZATION_DIR/typicality.png)",
        )
        subparser.add_argument("--markdown", default=None, help="also write the table to this file")
        subparser.set_defaults(func=_run_from_args)
        return subparser


def load_records(serialization_dir: Path) -> List[Dict[str, Any]]:
    path = Path(serialization_dir) / SCORES_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: mft-typicality reads the scores a stage-1 MFT run with the "
            "mft_prototypes callback writes (MFT (DC) and the baselines have none)."
        )
    records = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{line_number}: malformed JSON ({error.msg})") from error
    return records


def extremes(
    records: List[Dict[str, Any]], count: int
) -> Dict[str, Dict[str, List[Dict[str, Any]]]]:
    """`{domain: {"low": [...], "high": [...]}}`, lowest first and highest first."""
    by_domain: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_domain[record["domain"]].append(record)
    result = {}
    for domain in sorted(by_domain):
        ranked = sorted(by_domain[domain], key=lambda r: (r["typicality"], r["instance_id"]))
        result[domain] = {"low": ranked[:count], "high": ranked[::-1][:count]}
    return result


def table(records: List[Dict[str, Any]], count: int = 3, width: int = 100) -> str:
    """Table 5 as markdown: typicality end, domain, label, score, text."""
    lines = [
        "| Typicality | Domain | Label | Score | Text |",
        "|---|---|---|---:|---|",
    ]
    chosen = extremes(records, count)
    for end, title in (("low", "Low"), ("high", "High")):
        for domain, ends in chosen.items():
            for record in ends[end]:
                text = textwrap.shorten(
                    record["text"].replace("|", "/"), width=width, placeholder=" ..."
                )
                lines.append(
                    f"| {title} | {domain} | {record['label']} | {record['typicality']:.3f} | {text} |"
                )
    return "\n".join(lines) + "\n"


def histogram(records: List[Dict[str, Any]], path: Path, title: Optional[str] = None) -> None:
    """Typicality scores per domain, one panel a domain, on a shared axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_domain: Dict[str, List[float]] = defaultdict(list)
    for record in records:
        by_domain[record["domain"]].append(record["typicality"])
    domains = sorted(by_domain)
    low = min(min(v) for v in by_domain.values())
    high = max(max(v) for v in by_domain.values())
    figure, axes = plt.subplots(
        len(domains), 1, figsize=(6, 1.6 * len(domains) + 0.8), sharex=True, squeeze=False
    )
    for axis, domain in zip(axes[:, 0], domains):
        axis.hist(by_domain[domain], bins=40, range=(low, high), color="tab:blue")
        axis.set_ylabel(domain)
    axes[-1, 0].set_xlabel("typicality score")
    figure.suptitle(title or "Typicality per domain")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _run_from_args(args: argparse.Namespace) -> None:
    directory = Path(args.serialization_dir)
    try:
        records = load_records(directory)
    except (FileNotFoundError, ValueError) as error:
        print(f"mft-typicality: {error}", file=sys.stderr)
        sys.exit(1)
    rendered = table(records, args.count, args.width)
    print(rendered)
    if args.markdown:
        Path(args.markdown).write_text(rendered, encoding="utf-8")
    output = Path(args.output) if args.output else directory / "typicality.png"
    histogram(records, output, title=f"Typicality per domain: {directory.name}")
    print(f"Histogram written to {output}")
