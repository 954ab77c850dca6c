"""``edgekws data ...``: build the synthetic corpus, compute cached features, describe data.

Examples::

    edgekws data synth --out build/corpus-small --words yes no up --speakers 6
    edgekws data synth --out build/corpus                   # full: 35 words x 1500 speakers
    edgekws data info --root build/corpus
    edgekws data features --root build/corpus --cache build/features
    edgekws data features --fsdd --cache build/features
"""
from __future__ import annotations

import argparse
import json
import sys

from edgekws.cliargs import nonneg_int as _nonneg_int
from edgekws.cliargs import positive_int as _positive_int

__all__ = ["add_cli"]




def add_cli(subparsers) -> None:
    """Register the ``data`` command group on an argparse ``subparsers`` object."""
    from .synth import EXTRA_WORDS, WORDS

    data = subparsers.add_parser("data", help="datasets, synthetic corpus and MFCC features",
                                 description=__doc__)
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    sub.required = True

    p = sub.add_parser("synth", help="write a synthetic keyword corpus (Speech Commands layout)")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--engine", choices=("espeak", "kokoro"), default="espeak",
                   help="espeak: the eSpeak NG corpus (Speech Commands layout, fast); "
                   "kokoro: Kokoro-82M neural TTS clips with a manifest.csv, for 'data mix "
                   "--kokoro' (slow: seconds a clip; needs pip install 'edgekws[kokoro]' "
                   "and make kokoro) (default espeak)")
    p.add_argument("--kokoro-model", default=None, metavar="ONNX",
                   help="Kokoro int8 model (default $EDGEKWS_KOKORO_MODEL or "
                   "build/kokoro/kokoro-v1.0.int8.onnx)")
    p.add_argument("--kokoro-voices", default=None, metavar="NPZ",
                   help="Kokoro voice packs (default ../shared/data/kokoro/voices-v1.0.npz)")
    p.add_argument("--words", nargs="+", default=list(WORDS),
                   help="words to speak (default: the 35 Speech Commands words)")
    p.add_argument("--extra-words", action="store_true",
                   help=f"also speak the {len(EXTRA_WORDS)} words of the extra vocabulary "
                   "the shipped model's extractor is trained on (edgekws.data.synth."
                   "EXTRA_WORDS)")
    p.add_argument("--speakers", type=_positive_int, default=1500,
                   help="number of synthetic speakers")
    p.add_argument("--per-speaker", type=_positive_int, default=1,
                   help="repetitions of each word per speaker")
    p.add_argument("--augmented-copies", type=_nonneg_int, default=1,
                   help="augmented copies written next to each clean utterance")
    p.add_argument("--seed", type=_nonneg_int, default=0,
                   help="seed of the voices, words and augmentation: same seed, same corpus")
    p.add_argument("--variants", type=_nonneg_int, default=40,
                   help="generated eSpeak voice variants")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="fraction of the speakers in the validation split")
    p.add_argument("--test-fraction", type=float, default=0.1,
                   help="fraction of the speakers in the test split")
    p.add_argument("--noise-seconds", type=float, default=60.0,
                   help="length of each background noise file, in seconds")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="worker processes (default: all CPUs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing corpus")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser(
        "mix", help="a training corpus of neural TTS and real clips, split by speaker",
        description="Write a Speech Commands-layout corpus from pre-made clips (Kokoro, "
        "real Speech Commands folders, any folder with a manifest.csv), with realistic "
        "copies of each clip (room, microphone, band, level, real background noise). "
        "Speech Commands speakers fall in folds by the hash in their file names; held-out "
        "folds are not written, so 'edgekws eval --folds' reports on speakers the model "
        "never heard. Example: edgekws data mix --out build/corpus-real --kokoro "
        "../shared/data/kokoro --speech-commands ../shared/data/sc-v2-test-dev "
        "--val-speech-commands ../shared/data/sc-v1-sample --noise "
        "../shared/data/sc-background-noise --holdout 0")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--kokoro", metavar="DIR", help="Kokoro clips with manifest.csv "
                   "(../shared/data/kokoro)")
    p.add_argument("--speech-commands", metavar="DIR", nargs="+", default=None,
                   help="real Speech Commands folders to train on (split by speaker folds)")
    p.add_argument("--val-speech-commands", metavar="DIR", nargs="+", default=None,
                   help="real Speech Commands folders used for validation only")
    p.add_argument("--add-clips", metavar="DIR", nargs="+", default=None,
                   help="folders of pre-made clips with a manifest.csv (path, word, speaker)")
    p.add_argument("--noise", metavar="DIR", nargs="+", default=None,
                   help="folders of real background-noise WAVs (../shared/data/"
                   "sc-background-noise)")
    p.add_argument("--folds", type=_positive_int, default=5,
                   help="speaker folds of the Speech Commands sources (default 5)")
    p.add_argument("--holdout", type=_nonneg_int, nargs="*", default=[0],
                   help="folds never written (held-out speakers; default 0)")
    p.add_argument("--val-folds", type=_nonneg_int, nargs="*", default=[],
                   help="folds written to the validation list (default none)")
    p.add_argument("--copies", type=_nonneg_int, default=4,
                   help="realistic copies beside each clip (default 4)")
    p.add_argument("--without", nargs="*", default=None, metavar="EFFECT",
                   help="acoustic effects left out of the copies (for ablations): "
                   "speed reverb colour band trim level noise")
    p.add_argument("--level-db", type=float, nargs=2, default=[-45.0, -10.0],
                   metavar=("LOW", "HIGH"),
                   help="peak level range of the copies, dBFS (default -45 -10)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="worker processes (default: all CPUs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing corpus")
    p.set_defaults(func=_cmd_mix)

    p = sub.add_parser("info", help="describe a Speech Commands-layout folder")
    p.add_argument("--root", required=True, help="Speech Commands-layout folder")
    p.add_argument("--json", action="store_true",
                   help="everything as JSON (word indices, counts per split and word, "
                   "noise files, corpus.json) instead of the short summary")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("features", help="compute (cached) MFCC features")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--root", help="Speech Commands-layout folder")
    src.add_argument("--fsdd", nargs="?", const="", metavar="RECORDINGS",
                     help="the FSDD recordings (default: $EDGEKWS_FSDD or "
                          "../shared/data/fsdd/recordings)")
    p.add_argument("--cache", required=True, help="cache folder for the .npz files")
    p.add_argument("--words", nargs="+", default=None,
                   help="words to include (default: every word folder)")
    p.add_argument("--exclude", nargs="+", default=[],
                   help="words to leave out (default: none)")
    p.add_argument("--silence-percentage", type=float, default=10.0,
                   help="silence clips cut from the noise files, as a percentage of the "
                   "word clips")
    p.add_argument("--augment-copies", type=_nonneg_int, default=0,
                   help="augmented copies of each training clip")
    p.add_argument("--seed", type=_nonneg_int, default=0,
                   help="seed of the silence cuts and the augmentation")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="worker processes (default: all CPUs)")
    p.set_defaults(func=_cmd_features)


def _cmd_synth(args) -> int:
    from edgekws.extras import require

    from .synth import EXTRA_WORDS, SynthConfig, synthesize_corpus

    require("espeakng_loader", None, "edgekws data synth", "espeakng-loader")

    words = list(args.words)
    if args.extra_words:
        words += [w for w in EXTRA_WORDS if w not in words]
    if args.engine == "kokoro":
        from .kokoro import synthesize_kokoro
        info = synthesize_kokoro(args.out, words, speakers=args.speakers, seed=args.seed,
                                 model=args.kokoro_model, voices=args.kokoro_voices,
                                 progress=not args.quiet, overwrite=args.overwrite)
        print(f"wrote {info['files']} Kokoro clips of {info['words']} words by "
              f"{info['speakers']} speakers to {args.out} in {info['seconds']:.0f} s; mix "
              f"them in with: edgekws data mix --kokoro {args.out} ...")
        return 0
    config = SynthConfig(words=tuple(words), speakers=args.speakers,
                         per_speaker=args.per_speaker, augmented_copies=args.augmented_copies,
                         seed=args.seed, val_fraction=args.val_fraction,
                         test_fraction=args.test_fraction, noise_seconds=args.noise_seconds,
                         variants=args.variants)
    info = synthesize_corpus(args.out, config, workers=args.workers, progress=not args.quiet,
                             overwrite=args.overwrite)
    print(f"wrote {info['files']} files ({info['utterances']} utterances x "
          f"{config.copies} copies) of {len(config.words)} words by {config.speakers} "
          f"speakers {info['speakers']} to {args.out}: {info['bytes'] / 1e6:.1f} MB in "
          f"{info['seconds']:.1f} s ({info['files_per_second']:.0f} files/s)")
    return 0


def _cmd_mix(args) -> int:
    from pathlib import Path

    from .acoustics import Acoustics
    from .mix import build_mix, kokoro_source, manifest_source, speech_commands_source

    acoustics = Acoustics.without(*(args.without or ()), level_db=tuple(args.level_db))
    sources = []
    if args.kokoro:
        sources.append(kokoro_source(args.kokoro, "kk", seed=args.seed))
    named = [(d, False) for d in args.speech_commands or ()] + \
        [(d, True) for d in args.val_speech_commands or ()]
    for i, (d, val) in enumerate(named):
        sources.append(speech_commands_source(d, f"sc{i}", folds=args.folds,
                                              holdout=tuple(args.holdout),
                                              val_folds=tuple(args.val_folds), all_val=val))
    for i, d in enumerate(args.add_clips or ()):
        sources.append(manifest_source(d, f"clips{i}", seed=args.seed))
    noise = []
    for d in args.noise or ():
        found = sorted(Path(d).glob("*.wav"))
        if not found:
            raise ValueError(f"--noise {d!r}: no .wav files there")
        noise += found
    info = build_mix(args.out, sources, noise, copies=args.copies, acoustics=acoustics,
                     seed=args.seed, workers=args.workers, overwrite=args.overwrite,
                     progress=not args.quiet)
    for s in info["sources"]:
        parts = ", ".join(f"{k} {v['clips']} clips / {v['speakers']} speakers"
                          for k, v in s["splits"].items())
        print(f"{s['name']} ({s['kind']}, {s['root']}): {parts}")
    print(f"wrote {info['files']} files ({info['validation_files']} validation) to "
          f"{args.out} in {info['seconds']:.0f} s")
    return 0


def _cmd_info(args) -> int:
    from pathlib import Path

    from .speech_commands import load_speech_commands

    ds = load_speech_commands(args.root, silence_percentage=0)
    out = {"root": ds.root, "word_to_index": ds.word_to_index,
           "noise_files": [Path(p).name for p in ds.noise_files], **ds.summary()}
    corpus = Path(args.root) / "corpus.json"
    if corpus.exists():
        out["corpus"] = json.loads(corpus.read_text(encoding="utf-8"))
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        print(_info_summary(out))
    return 0


def _info_summary(info: dict) -> str:
    """A few lines for people: splits, words and noise files of ``data info``'s dict."""
    words = [w for w in info["word_to_index"] if not w.startswith("_")]
    lines = [f"{info['root']}: {len(words)} words, {len(info['noise_files'])} noise files"
             + (" (synthetic corpus, corpus.json)" if "corpus" in info else "")]
    for split in ("train", "val", "test"):
        part = info[split]
        low, high = min(part["words"].values(), default=0), max(part["words"].values(), default=0)
        spread = f", {low} per word" if low == high else f", {low}-{high} per word"
        lines.append(f"  {split:5s} {part['samples']:7d} clips, {part['speakers']:5d} "
                     f"speakers{spread}")
    lines.append("  words: " + " ".join(words))
    lines.append("(--json for every count and the class indices)")
    return "\n".join(lines)


def _cmd_features(args) -> int:
    from .features import cached_features

    progress = not args.quiet
    if args.fsdd is not None:
        from .fsdd import DIGIT_WORDS, list_fsdd

        items = list_fsdd(args.fsdd or None)
        fs = cached_features(items, args.cache, labels=[s.digit for s in items], name="fsdd",
                             workers=args.workers, progress=progress)
        print(f"fsdd: x {fs.x.shape} y {fs.y.shape} labels 0-9 = {list(DIGIT_WORDS)} "
              f"({'built' if fs.built else 'cached'}) {fs.path}")
        return 0
    from .speech_commands import load_speech_commands

    ds = load_speech_commands(args.root, words=args.words, exclude=args.exclude,
                              silence_percentage=args.silence_percentage, seed=args.seed)
    for split in ("train", "val", "test"):
        items = ds.split(split)
        if not items:
            print(f"{split}: empty")
            continue
        copies = args.augment_copies if split == "train" else 0
        fs = cached_features(items, args.cache, name=split, augment_copies=copies,
                             augment_seed=args.seed, noise_files=ds.noise_files,
                             workers=args.workers, progress=progress)
        print(f"{split}: x {fs.x.shape} y {fs.y.shape} "
              f"({'built' if fs.built else 'cached'}) {fs.path}")
    print("word_to_index:", json.dumps(ds.word_to_index))
    return 0
