"""Sphinx configuration for fastconv's documentation (see docs/README.md).

Built with warnings as errors by tools/ci_extra.sh:

    sphinx-build -W --keep-going -b html docs docs/_build/html

Three kinds of page are generated here, before Sphinx reads the sources,
into docs/_generated/ (not committed), so they cannot drift from the code:

- the API reference: one entry per name in ``fastconv.__all__``,
  ``fastconv.nn.__all__`` and ``fastconv.ndimage.__all__``, from the
  docstrings (autodoc + napoleon);
- the gallery's scripts: copies of examples/*.py with a title for
  sphinx-gallery and short run settings (``GALLERY`` below), run by
  sphinx-gallery, which keeps their output and figures;
- the benchmark charts: bar charts of the ratio columns of the tables in
  bench/RESULTS.md (the page itself includes that file).
"""
import os
import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
GEN = DOCS / "_generated"
sys.path.insert(0, str(DOCS))

import fastconv  # noqa: E402  (the installed package: the docs describe what is built)
import fastconv.nn  # noqa: E402
import fastconv.ndimage  # noqa: E402

project = "fastconv"
author = "fastconv developers"
copyright = "2026, fastconv developers"
version = release = fastconv.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "README.md", "_generated/gallery_src", "_generated/bench_charts.md", "gallery/*.py", "gallery/*.ipynb",
                    "gallery/*.codeobj.json", "gallery/*.zip"]
templates_path = []
html_theme = "alabaster"
html_theme_options = {"description": "Fast convolution, pooling and recurrent kernels for NumPy",
                      "fixed_sidebar": True}
html_static_path = []
myst_heading_anchors = 3
smartquotes = False  # keep "--epochs" and quotes in the docstrings and examples as typed
suppress_warnings = ["config.cache"]  # sphinx-gallery's conf holds functions; Sphinx then cannot cache it

autodoc_member_order = "bysource"
autodoc_typehints = "none"       # signatures only; the stub (fastconv/__init__.pyi) has the types
autodoc_default_options = {"members": False}
napoleon_numpy_docstring = True
napoleon_google_docstring = True


# ---- API reference ------------------------------------------------------------------------------

GROUPS = [  # (title, module whose public names form the group)
    ("Convolution", "fastconv.conv"),
    ("Pooling", "fastconv.pool"),
    ("Recurrent layers", "fastconv.rnn"),
    ("Image filtering", "fastconv.filtering"),
    ("FFT convolution and FFTW wisdom", "fastconv.fft"),
    ("N-dimensional convolution (scipy.signal)", "fastconv.signal"),
]


def _write_api():
    names = [n for n in fastconv.__all__ if n != "__version__"]
    placed = set()
    out = ["API reference: fastconv", "=" * 23, "",
           "Every public name of the ``fastconv`` package (``fastconv.__all__``), from its docstring.", "",
           ".. module:: fastconv", "",
           ".. data:: __version__", "", f"   The package version (``{fastconv.__version__}`` here).", ""]
    for title, module in GROUPS:
        mod = sys.modules.get(module) or __import__(module, fromlist=["_"])
        group = [n for n in names if getattr(fastconv, n).__module__ == mod.__name__]
        out += [title, "-" * len(title), ""]
        for n in group:
            out += [f".. autofunction:: {n}", ""]
        placed.update(group)
    rest = [n for n in names if n not in placed]
    out += ["Runtime, threads and arrays", "-" * 27, ""]
    out += [f".. autofunction:: {n}" + "\n" for n in rest]
    (GEN / "api_fastconv.rst").write_text("\n".join(out) + "\n")

    nn = fastconv.nn
    out = _submodule_head(nn, ["Every public name of ``fastconv.nn`` (``fastconv.nn.__all__``).  Keras spellings",
                               "(``MaxPooling2D``, ``BatchNormalization``, ...) are aliases of the same classes."])
    seen = {}
    for n in nn.__all__:
        obj = getattr(nn, n)
        if isinstance(obj, type):
            if obj in seen.values():
                first = next(k for k, v in seen.items() if v is obj)
                out += [f".. class:: {n}", "", f"   Alias of :class:`{first}`.", ""]
                continue
            seen[n] = obj
            out += [f".. autoclass:: {n}", "   :members:", "   :show-inheritance:", ""]
        else:
            out += [f".. autofunction:: {n}", ""]
    (GEN / "api_nn.rst").write_text("\n".join(out) + "\n")

    nd = fastconv.ndimage
    out = _submodule_head(nd, ["Every public name of ``fastconv.ndimage`` (``fastconv.ndimage.__all__``):",
                               "scipy.ndimage's convolution filters with its signatures, on fastconv's kernels."])
    out += [f".. autofunction:: {n}\n" for n in nd.__all__]
    (GEN / "api_ndimage.rst").write_text("\n".join(out) + "\n")


def _submodule_head(mod, intro):
    """The head of a submodule's reference page: its title, the intro lines, the module's docstring."""
    title = f"API reference: {mod.__name__}"
    return [title, "=" * len(title), "", *intro, "", f".. automodule:: {mod.__name__}", "   :no-members:", "",
            f".. currentmodule:: {mod.__name__}", ""]


# ---- gallery ------------------------------------------------------------------------------------

# example -> (title, arguments of a short run for the docs build, PNG it writes (shown) or None).
# The full runs (the scripts' defaults) are what the README and the examples' docstrings quote.
GALLERY = {
    "quickstart": ("Quickstart: a convolution, its gradients, and the same in NumPy", None, None),
    "image_filtering": ("Blur and edges of a photograph (correlate2d)", ["--out", "image_filtering.png"],
                        "image_filtering.png"),
    "sine_rnn": ("Forecasting a noisy sine wave with SimpleRNN and LSTM",
                 ["--epochs", "8", "--plot", "sine_rnn.png"], None),  # its figure stays open: shown as is
    "digits_cnn": ("A CNN on scikit-learn's 8x8 digits", ["--epochs", "3"], None),
    "mnist1d_cnn": ("A 1-D CNN on MNIST-1D", ["--epochs", "8"], None),
    "mnist1d_gru": ("A GRU on MNIST-1D", ["--epochs", "2"], None),
    "dask_pipeline": ("A large image blurred and edge-detected on a Dask cluster",
                      ["--size", "1500", "--chunk", "512", "--workers", "1", "--out", "dask_pipeline.png"],
                      "dask_pipeline.png"),
    "dcgan_digits": ("A small DCGAN on the 8x8 digits (custom training loop)",
                     ["--epochs", "3", "--out", "dcgan_digits.png"], "dcgan_digits.png"),
}


def _write_gallery_sources():
    src = GEN / "gallery_src"
    src.mkdir(parents=True, exist_ok=True)
    scripts = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
    missing = sorted(set(scripts) - set(GALLERY))
    if missing:
        raise RuntimeError(f"docs/conf.py GALLERY has no entry for examples {missing}")
    (src / "GALLERY_HEADER.rst").write_text(
        "Examples\n========\n\nThe scripts of the repository's ``examples/`` directory.  The documentation build\n"
        "runs each with short settings (fewer epochs; noted on each page) and keeps what it\n"
        "prints and draws; run them from a clone with their defaults for the full results.\n")
    for stem in scripts:
        title, args, png = GALLERY[stem]
        text = (ROOT / "examples" / f"{stem}.py").read_text()
        m = re.match(r'\s*"""(.*?)"""', text, re.S)
        if not m:
            raise RuntimeError(f"examples/{stem}.py has no module docstring")
        doc = f'"""\n{title}\n{"=" * len(title)}\n\n{m.group(1).strip()}\n"""'
        body = text[m.end():]
        main_call = re.search(r'\nif __name__ == "__main__":\n    main\(\)\n*$', body)
        if not main_call:
            raise RuntimeError(f"examples/{stem}.py does not end with the main() call this page replaces")
        run = ["", "", "# %%", "# Run", "# ---"]
        if args:
            run += [f"# The documentation build runs ``main({args!r})``; from a clone,",
                    f"# ``python examples/{stem}.py`` runs the full version."]
            run += [f"main({args!r})"]
        else:
            run += ["", "main()"]
        if png:
            run += ["", "# %%", f"# The image it saved, ``{png}``:", "",
                    "import matplotlib.pyplot as plt", "",
                    f"img = plt.imread({png!r})",
                    "fig = plt.figure(figsize=(img.shape[1] / 100, img.shape[0] / 100), dpi=100)",
                    "fig.figimage(img, cmap=\"gray\" if img.ndim == 2 else None)", ""]
        # the scripts read their own docstring (argparse descriptions); sphinx-gallery runs them
        # without one, so it is set again in a line the page does not show
        hidden = ("\n# sphinx_gallery_start_ignore\n"
                  f"__doc__ = {m.group(1).strip()!r}\n"
                  "# sphinx_gallery_end_ignore\n")
        (src / f"{stem}.py").write_text(doc + hidden + body[:main_call.start()] + "\n".join(run) + "\n")


sphinx_gallery_conf = {
    "examples_dirs": str(GEN / "gallery_src"),
    "gallery_dirs": "gallery",
    "filename_pattern": r".*\.py$",     # run every example (short settings, see GALLERY)
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
}


# ---- benchmark charts ---------------------------------------------------------------------------


def _tables(md):
    """[(section heading, header cells, rows)] for every pipe table in a markdown text."""
    out, heading, lines = [], None, md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            heading = line[3:].strip()
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| :]+\|$", lines[i + 1]):
            head = [c.strip() for c in line.strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append((heading, head, rows))
            continue
        i += 1
    return out


def _ratio(cell):
    m = re.match(r"\**([0-9.]+)x", cell)
    return float(m.group(1)) if m else None


def _ratio_axis(ax):
    """Log-scale ratio ticks labelled 0.5x, 1x, 2x, ... instead of powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _write_bench_charts():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    md = (ROOT / "bench" / "RESULTS.md").read_text()
    charts = []
    for heading, head, rows in _tables(md):
        cols = [j for j, h in enumerate(head) if re.fullmatch(r"[\w.]+ ?/ ?fastconv", h)]
        if not cols or not heading:
            continue
        labels = [r[0] for r in rows]
        series = {head[j]: [_ratio(r[j]) if j < len(r) else None for r in rows] for j in cols}
        series = {k: v for k, v in series.items() if any(x is not None for x in v)}
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(rows) + 2.5), 3.6))
        width = 0.8 / len(series)
        for k, (name, vals) in enumerate(series.items()):
            xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(rows))]
            ax.bar(xs, [v if v is not None else 0 for v in vals], width, label=name, color=f"C{k}")
        ax.axhline(1.0, color="k", lw=1)
        ax.set_yscale("log")
        _ratio_axis(ax)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("peer time / fastconv time\n(> 1: fastconv faster)", fontsize=8)
        ax.set_title(heading.replace("`", ""), fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
        fig.savefig(GEN / f"bench-{name}.png", dpi=100)
        plt.close(fig)
        charts.append((heading, f"bench-{name}.png"))
    if not charts:
        raise RuntimeError("bench/RESULTS.md: no table with a 'peer / fastconv' ratio column")
    lines = []
    for heading, png in charts:
        lines += [f"```{{figure}} /_generated/{png}", f":alt: {heading}: peer time / fastconv time", "",
                  f"{heading} (from bench/RESULTS.md)", "```", ""]
    (GEN / "bench_charts.md").write_text("\n".join(lines))


def _module_docstring_code(app, what, name, obj, options, lines):
    """Module docstrings show code as an indented block after a paragraph
    (plain-text style); as reStructuredText that is a block quote, which
    breaks on the code's own indentation.  Make each such block literal."""
    if what != "module":
        return
    out, in_block = [], False
    for line in lines:
        indented = line.startswith((" ", "\t"))
        if line.strip() and not indented:
            in_block = False
        elif indented and line.strip() and not in_block:
            in_block = True
            prev = [x for x in out if x.strip()]
            if not out or out[-1].strip() or not prev or not prev[-1].rstrip().endswith("::"):
                if out and out[-1].strip():
                    out.append("")
                out += ["::", ""]
        out.append(line)
    lines[:] = out


def setup(app):
    app.connect("autodoc-process-docstring", _module_docstring_code)


GEN.mkdir(exist_ok=True)
_write_api()
_write_gallery_sources()
_write_bench_charts()
os.environ.setdefault("MPLBACKEND", "Agg")
