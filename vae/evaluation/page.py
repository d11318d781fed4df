"""`report.html`: an evaluation as one page a person can open from disk.

The page holds the run's config, every number of `report.json` with a line
saying what it means (and, where the report has one, the same measure on
real held-out sprites beside it), the validation bits/dim of training read
from the run's own TensorBoard events and drawn as inline SVG, and every
picture evaluate.py drew, embedded as data URIs (lossless WebP). Nothing is fetched: no
script, font or style sheet from elsewhere, so the file can be mailed or
moved on its own.

Report keys are read generically: nested dicts become dotted keys
(`memorization.threshold`), and a key ending in `.real` (at any depth) is
shown beside the key it is the real-data counterpart of; so is a key with
one part `real` (`silhouette.real.one_piece` beside
`silhouette.samples.one_piece`).
"""

import base64
import glob
import html
import json
import math
import os

import cv2

from vae.pictures import TYPE_SHEET_PREFIX
from vae.rundir import files

REAL = "real"
CURVE_TAG = "val/bits_per_dim"

# One line each, for a reader who has not read the paper.
MEANINGS = {
    "elbo": "evidence lower bound, nats per image: how well the model explains the "
            "sprites (higher is better)",
    "distortion": "-log p(x|z), nats per image: what reconstructing a sprite from its "
                  "code misses",
    "rate": "KL(q(z|x) || p(z)), nats per image: how much the code says about each sprite",
    "bits_per_dim_elbo": "-ELBO in bits per pixel value: bits to store each 8-bit value "
                         "with this model (8 is the raw image; lower is better)",
    "bits_per_dim_iwae": "the same from the tighter importance-weighted bound (lower is "
                         "better)",
    "iw_samples": "importance samples K behind the importance-weighted bound",
    "active_units": "latent dimensions the model actually uses (their code varies "
                    "between sprites)",
    "latent_dim": "size of the latent code",
    "kl_per_dim": "information each latent dimension carries, nats: near 0 means unused",
    "recon_psnr": "reconstruction sharpness, dB: how close a held-out sprite's "
                  "reconstruction is, pixel by pixel (higher is better)",
    "recon_ssim": "structural similarity of reconstructions to the sprites (1 is identical)",
    "fd": "Frechet distance between samples and held-out sprites in a random-convnet "
          "feature space (lower is better; not ImageNet FID)",
    "kid": "kernel distance between samples and held-out sprites in the same feature "
           "space (lower is better; about 0 when they match)",
    "kid_std": "spread of the kernel distance over random subsets",
    "precision": "share of samples that look like some real sprite (fidelity)",
    "recall": "share of real sprites that some sample resembles (diversity)",
    "density": "how crowded real sprites' neighbourhoods are with samples (about 1 "
               "when samples follow the data)",
    "coverage": "share of real sprites with a sample close by",
    "memorization.near_copy_fraction": "share of samples that are near-copies of a "
                                       "training sprite (about 0.05 when nothing is copied)",
    "memorization.threshold": "distance below which a sample counts as a near-copy",
    "memorization.threshold_definition": "how that distance was chosen",
    "memorization.sample_median_distance": "typical distance from a sample to its "
                                           "nearest training sprite",
    "memorization.heldout_median_distance": "typical distance from a held-out sprite "
                                            "to its nearest training sprite",
    "memorization.distinct_neighbours": "share of samples whose nearest training sprite "
                                        "no other sample shares (1 when samples differ)",
    "memorization.pixel_near_copy_fraction": "the same share of near-copies, judged on the "
                                             "pixels (32 px composites) instead of features",
    "memorization.pixel_threshold": "ratio below which a sample counts as a near-copy in pixels",
    "memorization.pixel_threshold_definition": "how that ratio was chosen",
    "memorization.shape_near_copy_fraction": "the same share judged on silhouettes alone, "
                                             "against other species: a copy in new colours "
                                             "counts (none without species or alpha)",
    "memorization.shape_threshold": "ratio below which a sample's outline counts as copied",
    "memorization.shape_threshold_definition": "how that ratio was chosen",
    "realism": "classifier two-sample tests against held-out sprites (none: too few images)",
    "realism.*.accuracy": "how often a small convnet tells these images from held-out "
                          "sprites it did not train on: 0.5 cannot tell them apart, 1.0 "
                          "always can (lower is better)",
    "realism.*.log_loss": "that convnet's held-out log-loss, nats: it grades even when the "
                          "accuracy is near 1 (higher is harder to tell apart; 0.693 is chance)",
    "realism.*.linear_accuracy": "the same test with a linear classifier on pixels and "
                                 "gradients: texture can fool it, so read it beside the "
                                 "convnet's",
    "realism.*.linear_log_loss": "that linear classifier's held-out log-loss, nats",
    "realism.*.count": "images of each set in the test",
    "bits_per_dim_foreground": "bits per value over the sprite's own pixels only, so the "
                               "empty canvas does not flatter it (lower is better)",
    "rate_by_level.*": "the rate carried by each level of the latent code, nats per image",
    "silhouette.*.one_piece": "share of images whose opaque shape is one piece, as a "
                              "sprite is one creature (higher is better)",
    "silhouette.*.pieces": "mean number of separate opaque pieces (1 for a sprite)",
    "sharpness.*": "edge strength as a ratio to the real sprites' (1.0 is as crisp "
                   "as they are; blurry is well below)",
    "sharpness.real_edge_strength": "mean edge strength of the real held-out sprites",
    "alpha_hardness.*": "share of alpha values near fully clear or fully opaque "
                        "(sprites are cut out: real ones are mostly hard)",
    "grid_temperature": "sampler scale of the detail latents of those samples",
    "sampler": "what the samples were drawn from: the prior, or a density fitted to the "
               "training codes after training",
    "condition": "what the encoder and decoder were given beside the image: none, or the "
                 "sprite's types (a conditional VAE; its likelihood figures are of p(x | types))",
    "expost": "the density fitted to the training codes after training, if any",
    "types": "the type classifier's accuracy on held-out sprites and the share of sprites "
             "generated for each type that it gives that type (see Types below; none: the "
             "data has no types table, or the sampler holds no types)",
    "expost.*": "a property of that fitted density",
    "split": "the sprites evaluated (test: species never seen in training)",
    "num_images": "sprites evaluated",
    "num_samples": "samples drawn for the sample measures",
    "temperature": "sampler scale of those samples (1 is the model's own)",
    "checkpoint": "the weights evaluated",
    "seed": "seed of every random draw: the same seed gives the same numbers",
}
UNDESCRIBED = "not described yet: add a line to MEANINGS in vae/evaluation/page.py"

PICTURE_CAPTIONS = {
    "reconstructions.png": "Held-out sprites (odd rows) and their reconstructions (even rows).",
    "samples.png": "Samples.",
    "samples_vs_real.png": "Samples (left) beside as many held-out sprites (right).",
    "samples_pixel_art.png": "The samples in 16 colours each, with a hard alpha edge.",
    "interpolations.png": "Paths between held-out sprites along great circles in latent space.",
    "traversals.png": "The most informative latent dimensions swept one at a time.",
    "nearest_neighbors.png": "The samples most like a copy, each above its nearest training sprite.",
}

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em;
       padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font-size: 0.92em; }
figure { margin: 1em 0 2em; }
img { image-rendering: pixelated; max-width: 100%;
      background: repeating-conic-gradient(#ccc 0 25%, #fff 0 50%) 0 0 / 16px 16px; }
.list, .text { max-width: 30em; overflow-wrap: anywhere; }
.list { font-size: 0.85em; }
"""


def flatten(report, prefix=""):
  """{dotted key: value} for every leaf of nested dicts, in order."""
  flat = {}
  for key, value in report.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      flat.update(flatten(value, name + "."))
    else:
      flat[name] = value
  return flat


def real_counterpart(key, flat):
  """The key of the real held-out sprites' value for `key`, or None.

  `x` pairs with `x.real`; a key with one part replaced by `real` is its
  counterpart too (`silhouette.samples.one_piece` with
  `silhouette.real.one_piece`, `alpha_hardness.samples` with
  `alpha_hardness.real`), so one real value may sit beside several.
  """
  parts = key.split(".")
  if REAL in parts:
    return None
  candidates = [key + "." + REAL] + [
      ".".join(parts[:i] + [REAL] + parts[i + 1:]) for i in range(1, len(parts))]
  return next((c for c in candidates if c in flat), None)


def metric_rows(report):
  """[(key, value, (real key, real value) or None, meaning)], real beside its pair."""
  # The types have a section of their own (`types_section`); none, a row.
  flat = flatten({k: v for k, v in report.items() if not (k == "types" and v)})
  partner = {key: real_counterpart(key, flat) for key in flat}
  paired = {real for real in partner.values() if real}
  rows = []
  for key, value in flat.items():
    if key in paired:
      continue
    real = partner[key]
    rows.append((key, value, (real, flat[real]) if real else None, meaning(key)))
  return rows


def meaning(key):
  """The line for `key`: its own, or one with a part of it as `*`, or its parent's."""
  parts = key.split(".")
  candidates = [key] + [".".join(parts[:i] + ["*"] + parts[i + 1:])
                        for i in range(1, len(parts))]
  for candidate in candidates:
    if candidate in MEANINGS:
      return MEANINGS[candidate]
  parent, _, leaf = key.rpartition(".")
  if leaf in ("samples", "value", "model") and parent in MEANINGS:
    return MEANINGS[parent]
  return UNDESCRIBED


def format_value(value):
  if isinstance(value, bool) or value is None:
    return str(value)
  if isinstance(value, float):
    if math.isnan(value):
      return "nan"
    return f"{value:.1f}" if abs(value) >= 1e4 else f"{value:.4g}"
  if isinstance(value, (list, tuple)):
    return " ".join(format_value(round(v, 3) if isinstance(v, float) else v) for v in value)
  return str(value)


def read_curve(tb_dir, tag=CURVE_TAG):
  """[(epoch, step, value)] of a scalar in a run's TensorBoard events, in step order.

  One validation is written per epoch, so the n-th distinct step is epoch n;
  a resumed run that wrote a step twice keeps the last value.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  points = {}
  for path in sorted(glob.glob(os.path.join(tb_dir, "events.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          points[event.step] = float(tf.make_ndarray(value.tensor))
  return [(epoch, step, points[step]) for epoch, step in enumerate(sorted(points), 1)]


def curve_svg(curve, width=640, height=280, label="validation bits/dim"):
  """The curve as an inline SVG line chart: value against epoch, the best marked."""
  left, right, top, bottom = 70, 20, 20, 40
  epochs = [e for e, _, _ in curve]
  values = [v for _, _, v in curve]
  lo, hi = min(values), max(values)
  # Early epochs sit far above the rest; show the part worth reading.
  hi = min(hi, lo + max(4 * (sorted(values)[len(values) // 2] - lo), 1e-3))
  span_x, span_y = max(epochs[-1] - epochs[0], 1), max(hi - lo, 1e-9)

  def x(e):
    return left + (e - epochs[0]) / span_x * (width - left - right)

  def y(v):
    return top + (hi - min(v, hi)) / span_y * (height - top - bottom)

  best = min(range(len(values)), key=values.__getitem__)
  points = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in zip(epochs, values))
  ticks = "".join(
      f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3f}</text>'
      f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
      for v in (lo, (lo + hi) / 2, hi))
  return (
      f'<svg width="{width}" height="{height}" '
      f'viewBox="0 0 {width} {height}" role="img" aria-label="{label} over epochs" '
      f'font-size="11" font-family="sans-serif">{ticks}'
      f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="#888"/>'
      f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" '
      f'y2="{height - bottom}" stroke="#888"/>'
      f'<text x="{left}" y="{height - bottom + 16}">{epochs[0]}</text>'
      f'<text x="{width - right}" y="{height - bottom + 16}" text-anchor="end">'
      f'{epochs[-1]}</text>'
      f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">'
      f'epoch</text>'
      f'<text x="12" y="{(top + height - bottom) / 2}" text-anchor="middle" '
      f'transform="rotate(-90 12 {(top + height - bottom) / 2})">{label}</text>'
      f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{points}"/>'
      f'<circle cx="{x(epochs[best]):.1f}" cy="{y(values[best]):.1f}" r="4" fill="#d1242f">'
      f'<title>best: {values[best]:.4f} at epoch {epochs[best]}</title></circle></svg>')


def data_uri(path):
  """A picture file as a data URI of lossless WebP.

  The grids are nearest-neighbour upscaled, which lossless WebP packs about
  three times tighter than the PNGs beside the page: a page of every picture
  stays a few MB.
  """
  image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
  ok, encoded = (False, None) if image is None else cv2.imencode(
      ".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])  # above 100: lossless
  if not ok:
    raise OSError(f"cannot embed {path} in report.html: not a readable image")
  return "data:image/webp;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def render(report, config, pictures, curve, title):
  """The page as a string (see `write`)."""
  esc = html.escape
  parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
           f"<h1>{esc(title)}</h1>",
           f"<p>{esc(str(report.get('num_images', '?')))} {esc(str(report.get('split', '')))} "
           f"sprites, checkpoint <code>{esc(str(report.get('checkpoint', '?')))}</code>. "
           "Sample measures are computed in a seeded random-convnet feature space: "
           "comparable between runs of this project, not with published ImageNet FIDs.</p>",
           "<h2>Metrics</h2><table id=\"metrics\"><tr><th>metric</th><th>value</th>"
           "<th>real held-out sprites</th><th>meaning</th></tr>"]
  for key, value, real, meaning in metric_rows(report):
    kind = ("list" if isinstance(value, (list, tuple)) else
            "num" if isinstance(value, (int, float)) else "text")
    real_cell = ("<td></td>" if real is None else
                 f"<td class=\"num\" title=\"{esc(real[0])}\">{esc(format_value(real[1]))}</td>")
    parts.append(f"<tr><td><code>{esc(key)}</code></td><td class=\"{kind}\">"
                 f"{esc(format_value(value))}</td>{real_cell}"
                 f"<td>{esc(meaning)}</td></tr>")
  parts.append("</table><h2>Training</h2>")
  if curve:
    best = min(curve, key=lambda point: point[2])
    parts.append(f"<p>Validation bits/dim after each of {len(curve)} epochs; the best, "
                 f"{best[2]:.4f}, after epoch {best[0]} (step {best[1]}).</p>"
                 f"<figure>{curve_svg(curve)}</figure>")
  else:
    parts.append("<p>No training records: the run has no TensorBoard events with "
                 f"<code>{CURVE_TAG}</code> in <code>RUN/tb</code>.</p>")
  parts.extend(types_section(report.get("types"), pictures))
  parts.append("<h2>Pictures</h2>")
  for name, path in pictures.items():
    if name.startswith(TYPE_SHEET_PREFIX):
      continue
    caption = PICTURE_CAPTIONS.get(name, name)
    parts.append(f"<figure><img src=\"{data_uri(path)}\" alt=\"{esc(name)}\">"
                 f"<figcaption><code>{esc(name)}</code>: {esc(caption)}</figcaption></figure>")
  parts.append("<h2>Config</h2><table id=\"config\">")
  for key, value in flatten(config).items():
    parts.append(f"<tr><td><code>{esc(key)}</code></td>"
                 f"<td>{esc(json.dumps(value))}</td></tr>")
  parts.append("</table></body></html>\n")
  return "\n".join(parts)


def types_section(types, pictures):
  """The Types section: the classifier, each judged type's accuracy and sheet."""
  if not types:
    return []
  esc = html.escape
  classifier, conditional = types["classifier"], types["conditional"]
  parts = ["<h2>Types</h2>",
           f"<p>A small convnet trained on the training sprites' types gives held-out sprites "
           f"their primary type top-1 {classifier['primary_top1']:.3f} of the time "
           f"(always guessing the commonest: {classifier['baseline_primary_top1']:.3f}) and "
           f"one of their types among its top 2 {classifier['any_top2']:.3f} of the time "
           f"({classifier['count']} sprites).</p>"]
  if not conditional:
    return parts
  ratio = "" if conditional["ratio"] is None else f", {conditional['ratio']:.2f} of the ceiling"
  parts.append(f"<p>Of {types['samples_per_type']} sprites generated for each type, the share "
               f"it gives that type: {conditional['overall']:.3f} over the types (real held-out "
               f"sprites of those types: {format_value(conditional['ceiling'])}{ratio}). Each "
               "sheet: generated (left) beside training sprites of the type (right).</p>"
               "<table id=\"types\"><tr><th>type</th><th>generated, given the type</th>"
               "<th>real held-out, given the type</th><th>sheet</th></tr>")
  for name, row in conditional["per_type"].items():
    sheet = pictures.get(f"{TYPE_SHEET_PREFIX}{name.lower()}.png")
    image = f"<img src=\"{data_uri(sheet)}\" alt=\"{esc(name)}\">" if sheet else ""
    parts.append(f"<tr><td>{esc(name)}</td><td class=\"num\">{row['accuracy']:.3f}</td>"
                 f"<td class=\"num\">{esc(format_value(row['ceiling']))} "
                 f"({row['real_count']})</td><td>{image}</td></tr>")
  parts.append("</table>")
  return parts


def write(directory, report, config, pictures, run_dir, title="PokeVAE evaluation"):
  """Writes `directory/report.html`; returns its path.

  Args:
    directory: the evaluation's output folder, beside report.json.
    report: the report as written to report.json.
    config: the run's config as a dict.
    pictures: {file name: path} of the pictures drawn, in page order.
    run_dir: the run directory, whose `tb/` holds the training events.
    title: the page's heading.
  """
  tb_dir = os.path.join(run_dir, "tb")
  curve = read_curve(tb_dir) if os.path.isdir(tb_dir) else []
  return files.write_text(os.path.join(directory, "report.html"),
                         render(report, config, pictures, curve, title))
