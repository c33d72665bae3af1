"""RESULTS.md, results.json and answered_vs_offered.png from one bench run."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from .run import LOSS_OK_PCT, ResponderResult

KERNEL = "Linux kernel"
FLOOR = "C floor"
CEILING = "generator ceiling (sink)"
PACKET = "arpresponder (packet)"


def machine() -> dict[str, str]:
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return {
        "cpu": f"{len(models)} × {models[0] if models else platform.machine()}",
        "kernel": subprocess.run(["uname", "-srvm"], capture_output=True, text=True, check=False).stdout.strip(),
        "python": sys.version.split()[0],
        "trafgen": subprocess.run(["trafgen", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0],
    }


def _ratio(value: float | None, reference: float | None) -> float | None:
    return value / reference if value and reference else None


def to_json(results: list[ResponderResult], extras: dict, meta: dict) -> dict:
    """The run as data: every responder's figures, and each one's ratios to the yardsticks of this same run.

    Rates are compared with the kernel's and the ceiling's (max rate at ≤ 1% loss with theirs, peak answered
    with theirs); latencies with the floor's (light with light, loaded with loaded). A ratio is None when
    either figure is missing (no floor compiled, a rung never answered).
    """

    def one(r: ResponderResult) -> dict:
        cap = r.capacity
        return {
            "name": r.name, "command": r.command, "ready_s": round(r.ready_s, 3),
            "max_offered_pps_at_1pct_loss": round(cap.offered_pps) if cap else None,
            "peak_answered_pps": round(max((g.answered_pps for g in r.rungs), default=0)),
            "rungs": [rung.as_dict() for rung in r.rungs],
            "latency_light": asdict(r.latency_light) if r.latency_light else None,
            "latency_loaded": asdict(r.latency_loaded) if r.latency_loaded else None,
            "loaded_flood_pps": r.loaded_flood_pps, "kernel_drops": r.kernel_drops, "summary": r.summary,
        }  # fmt: skip

    rows = [one(r) for r in results]
    by_name = {row["name"]: row for row in rows}
    kernel, ceiling, floor = by_name.get(KERNEL, {}), by_name.get(CEILING, {}), by_name.get(FLOOR, {})
    for row in rows:
        ratios = {}
        for key, short in (("max_offered_pps_at_1pct_loss", "max"), ("peak_answered_pps", "peak")):
            ratios[f"{short}_vs_kernel"] = _ratio(row[key], kernel.get(key))
            ratios[f"{short}_vs_ceiling"] = _ratio(row[key], ceiling.get(key))
        for kind in ("light", "loaded"):
            mine, floors = row[f"latency_{kind}"] or {}, floor.get(f"latency_{kind}") or {}
            for q in ("p50", "p99"):
                ratios[f"{kind}_{q}_vs_floor"] = _ratio(mine.get(f"{q}_us"), floors.get(f"{q}_us"))
        row["ratios"] = ratios
    return {"meta": meta, "responders": rows, "extras": extras}


def _cell(value, fmt: str = "{:.0f}", none: str = "—") -> str:
    return none if value is None else fmt.format(value)


def _x(value: float | None) -> str:
    return _cell(value, "{:.2f}×")


def to_markdown(data: dict) -> str:
    meta, rows = data["meta"], data["responders"]
    floor = meta.get("floor", {})
    out = [
        "# Bench results",
        "",
        f"> {meta['note']}" if meta.get("note") else "",
        "",
        f"Command: `{meta['command']}` — {meta['when']}, {meta['duration_s']:.0f} s.",
        "",
        (
            f"Machine: {meta['machine']['cpu']}; {meta['machine']['kernel']}; Python {meta['machine']['python']}; "
            f"{meta['machine']['trafgen']}. {meta['pinning']}"
        ),
        "",
        (
            f"Yardsticks measured in this run: the **generator ceiling** ({CEILING}: what trafgen and the veth pair "
            f"deliver to a socket on r0 that answers nothing), the **kernel**, and the **userspace floor** ({FLOOR}: "
            + (
                f"`{floor['command']}`)."
                if "command" in floor
                else f"not measured: {floor.get('skipped', 'not run')})."
            )
        ),
        "",
        "## Rates",
        "",
        (
            f"Max rate = highest offered rate answered with ≤ {LOSS_OK_PCT:g}% loss; peak = most replies/s in any rung. "
            "× kernel and × ceiling compare each with the same figure of the kernel and of the ceiling (for the "
            'ceiling itself, "answered" means delivered to its socket).'
        ),
        "",
        "| responder | max rate (pps) | × kernel | × ceiling | peak answered (pps) | × kernel | × ceiling | CPU % at max | RSS (MiB) | kernel drops | ready (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cap, ratios = r["max_offered_pps_at_1pct_loss"], r["ratios"]
        at_cap = next((g for g in r["rungs"] if g["offered_pps"] == cap), None)
        cpu = "softirq†" if at_cap and at_cap["cpu_pct"] is None else _cell(at_cap and at_cap["cpu_pct"])
        rss = max((g["rss_kib"] or 0 for g in r["rungs"]), default=0)
        out.append(
            f"| {r['name']} | {_cell(cap, none='none')} | {_x(ratios['max_vs_kernel'])} | "
            f"{_x(ratios['max_vs_ceiling'])} | {r['peak_answered_pps']} | {_x(ratios['peak_vs_kernel'])} | "
            f"{_x(ratios['peak_vs_ceiling'])} | {cpu} | {_cell(rss / 1024 if rss else None, '{:.1f}')} | "
            f"{_cell(r['kernel_drops'], '{}', 'n/a')} | {r['ready_s']:.2f} |"
        )
    out += [
        "",
        "## Latency",
        "",
        (
            "Request→reply at the requester, 1k req/s: light = alone, loaded = over a background flood at half that "
            "responder's max rate. × floor compares p50 with the floor's p50 and p99 with its p99, light with light "
            "and loaded with loaded."
        ),
        "",
        "| responder | p50 / p99 light (µs) | × floor (p50 / p99) | p50 / p99 loaded (µs) | × floor (p50 / p99) | loaded over (pps) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["name"] == CEILING:
            continue  # it answers nothing
        ratios = r["ratios"]
        out.append(
            f"| {r['name']} | {_latency(r['latency_light'])} | {_x(ratios['light_p50_vs_floor'])} / "
            f"{_x(ratios['light_p99_vs_floor'])} | {_latency(r['latency_loaded'])} | "
            f"{_x(ratios['loaded_p50_vs_floor'])} / {_x(ratios['loaded_p99_vs_floor'])} | "
            f"{_cell(r['loaded_flood_pps'])} |"
        )
    out += [
        "",
        (
            "† On veth, r0's receive path — and with it all of the kernel's ARP work — runs in softirq on the *sender's* "
            "CPU (the generator's, CPU 0), so it is not attributable to a process. The per-rung table shows CPU 0's "
            "softirq % (from /proc/stat) for every responder: for the others it is the veth receive path up to their "
            "socket, for the kernel it includes the ARP replies."
        ),
        "",
        "## Targets",
        "",
        *_short_run_warning(data),
        *_targets(data),
        "",
        "### Packet engine extras",
        "",
        *_extras(data["extras"]),
        "",
        "## Every rung",
        "",
        "| responder | asked (pps) | offered (pps) | answered (pps) | loss % | CPU % | CPU 0 softirq % | RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        for g in r["rungs"]:
            out.append(
                f"| {r['name']} | {g['rate']} | {g['offered_pps']} | {g['answered_pps']} | {g['loss_pct']:.1f} | "
                f"{_cell(g['cpu_pct'], none='softirq')} | {g['softirq_cpu0_pct']:.0f} | "
                f"{_cell(g['rss_kib'] and g['rss_kib'] / 1024, '{:.1f}')} |"
            )
    out += ["", "## Method", "", *meta["method"], ""]
    return "\n".join(out)


def _short_run_warning(data: dict) -> list[str]:
    """For a run shorter than the full one (--quick): say that its verdicts judge only its own few rungs."""
    plan = data["meta"]["plan"]
    if plan["rss_flood_s"] and plan["big_set"]:
        return []
    warning = (
        f"> A short run: its ladder stops at {max(plan['rates'])} pps and it probes latency for {plan['latency_s']:g} s, "
        'so a verdict below judges only that (a rate "met" says nothing of the kernel\'s limit, a p99 little); '
        "the full run (`python -m bench`) is the measurement."
    )
    return [warning, ""]


def _targets(data: dict) -> list[str]:
    """Each target (issues 3 and 11) with what this run measured, as ratios within this one run."""
    by_name = {r["name"]: r for r in data["responders"]}
    kernel, packet, floor = by_name.get(KERNEL), by_name.get(PACKET), by_name.get(FLOOR)
    scapy, scapy_farpd = by_name.get("arpresponder (scapy)"), by_name.get("scapy farpd")
    extras = data["extras"]
    rows = []

    def row(issue: int, target: str, measured: str, ok: bool | str | None) -> None:
        verdict = ok if isinstance(ok, str) else "not measured" if ok is None else "met" if ok else "NOT met"
        rows.append(f"| {issue} | {target} | {measured} | {verdict} |")

    if packet:
        ratios = packet["ratios"]
        for q, limit in (("p50", 1.5), ("p99", 2.0)):
            p = (packet["latency_light"] or {}).get(f"{q}_us")
            f = ((floor or {}).get("latency_light") or {}).get(f"{q}_us")
            ratio = ratios[f"light_{q}_vs_floor"]
            row(11, f"packet engine {q} latency at 1k req/s ≤ {limit:g}× the floor's",
                f"{_cell(p)} vs {_cell(f)} µs = {_x(ratio)}" if floor else "no floor in this run",
                ratio <= limit if ratio else None)  # fmt: skip
    if kernel and packet:
        k, p, ratios = kernel["max_offered_pps_at_1pct_loss"], packet["max_offered_pps_at_1pct_loss"], packet["ratios"]
        row(11, "packet engine max rate at ≤ 1% loss ≥ 1.0× the kernel's (stretch: the ceiling's)",
            f"{_cell(p, none='none')} vs {_cell(k, none='none')} pps = {_x(ratios['max_vs_kernel'])} "
            f"(× ceiling {_x(ratios['max_vs_ceiling'])})",
            ratios["max_vs_kernel"] >= 1.0 if ratios["max_vs_kernel"] else None)  # fmt: skip
        row(11, "packet engine peak answered ≥ 1.2× the kernel's",
            f"{packet['peak_answered_pps']} vs {kernel['peak_answered_pps']} pps = {_x(ratios['peak_vs_kernel'])}",
            ratios["peak_vs_kernel"] >= 1.2 if ratios["peak_vs_kernel"] else None)  # fmt: skip
        rss = max((g["rss_kib"] or 0 for g in packet["rungs"]), default=0)
        row(11, "packet engine RSS with a 1-entry set (reported)", f"{rss / 1024:.1f} MiB (largest over its ladder)",
            "reported" if rss else None)  # fmt: skip
    big = extras.get("set_1m")
    row(11, "packet engine RSS with the 1M-entry set (reported)",
        f"{big['rss_mib']:.1f} MiB (largest over its ladder)" if big else "full runs only",
        "reported" if big else None)  # fmt: skip
    growth = extras.get("rss_growth")
    row(11, "RSS growth ≤ 2 MB over a 60 s flood",
        f"{growth['growth_kib']} KiB over {growth['seconds']:.0f} s at {growth['rate']} pps" if growth else "full runs only",
        growth["growth_kib"] <= 2048 if growth else None)  # fmt: skip
    if oos := extras.get("out_of_set"):
        row(3, "out-of-set flood at the kernel's rate: packet engine CPU ≤ 10% of a core",
            f"{_cell(oos['cpu_pct'])}% at {oos['offered_pps']} pps offered",
            oos["cpu_pct"] is not None and oos["cpu_pct"] <= 10)  # fmt: skip
    row(3, "1M-entry set loads in ≤ 3 s", f"ready after {big['ready_s']:.2f} s (process start to answering)" if big else "full runs only",
        big["ready_s"] <= 3 if big else None)  # fmt: skip
    row(3, "1M-entry set answers within 10% of a 1-entry set",
        f"{_cell(big['max_pps'], none='none')} vs {_cell(big['small_max_pps'], none='none')} pps = "
        f"{_x(big['ratio_vs_small'])}" if big else "full runs only",
        big["ratio_vs_small"] >= 0.9 if big and big["ratio_vs_small"] else None)  # fmt: skip
    if scapy and scapy_farpd:
        a, b = scapy["peak_answered_pps"], scapy_farpd["peak_answered_pps"]
        ratio = a / b if b else None
        row(3, "scapy engine ≥ 50× scapy's farpd (peak answered rate: farpd answers no rung within 1% loss)",
            f"{a} vs {b} pps = {_cell(ratio, '{:.0f}')}×", ratio and ratio >= 50)  # fmt: skip
    return ["| issue | target | measured | |", "|---|---|---|---|", *rows]


def _latency(lat: dict | None) -> str:
    if not lat:
        return "—"
    lost = f" ({lat['sent'] - lat['answered']}/{lat['sent']} lost)" if lat["answered"] < lat["sent"] else ""
    return f"{_cell(lat['p50_us'])} / {_cell(lat['p99_us'])}{lost}"


def _extras(extras: dict) -> list[str]:
    lines = []
    if oos := extras.get("out_of_set"):
        lines.append(f"- Out-of-set flood (203.0.113.1-254) at the kernel's max rate ({oos['rate']} pps asked, "
                     f"{oos['offered_pps']} offered): packet engine CPU {_cell(oos['cpu_pct'])} % of one core, "
                     f"{oos['replies']} replies (target ≤ 10 %).")  # fmt: skip
    if big := extras.get("set_1m"):
        lines.append(f"- 1M-entry set (500k singles + 500k ranges, one of them {big['served']}): ready "
                     f"{big['ready_s']:.2f} s after process start (target ≤ 3 s); max rate {_cell(big['max_pps'], none='none')} pps "
                     f"vs {_cell(big['small_max_pps'], none='none')} pps with the 1-entry set "
                     f"({_cell(big['ratio_vs_small'], '{:.2f}')}×; target ≥ 0.9×), RSS {big['rss_mib']:.0f} MiB.")  # fmt: skip
    else:
        lines.append("- 1M-entry set: measured in full runs only.")
    if rss := extras.get("rss_growth"):
        lines.append(f"- RSS over a {rss['seconds']:.0f} s flood at {rss['rate']} pps: {rss['first_kib']} → "
                     f"{rss['last_kib']} KiB, growth {rss['growth_kib']} KiB (target ≤ 2048 KiB).")  # fmt: skip
    else:
        lines.append("- RSS growth over a 60 s flood: measured in full runs only.")
    return lines


def plot(data: dict, path: Path) -> str:
    """answered vs offered rate, log-log, one line per responder; says so if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed (pip install '.[bench]'): skipped the plot"
    fig, ax = plt.subplots(figsize=(8, 5.5))
    top = 1.0
    for r in data["responders"]:
        xs = [g["offered_pps"] for g in r["rungs"]]
        ys = [max(g["answered_pps"], 1) for g in r["rungs"]]
        ax.plot(xs, ys, marker="o", label=r["name"])
        top = max(top, *xs)
    ax.plot([1, top], [1, top], color="grey", linestyle=":", label="answered = offered")
    ax.set(xscale="log", yscale="log", xlabel="offered ARP requests/s", ylabel="answered replies/s",
           title="Answered vs offered rate (veth, generator CPU 0, responder CPU 1)")  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"wrote {path}"


def write(out: Path, data: dict) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "RESULTS.md").write_text(to_markdown(data))
    return [f"wrote {out / 'results.json'}", f"wrote {out / 'RESULTS.md'}", plot(data, out / "answered_vs_offered.png")]
