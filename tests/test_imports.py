"""The import graph of the project's modules runs the way README's layout section says.

Read from the source with `ast` (nothing is imported): every `import` and
`from ... import`, at the top of a module or inside a function (the programs
import TensorFlow's side lazily), that names a module of this project.
"""

import ast
import os
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ("common", "pipelines", "vae", "train_loop.py", "evaluate.py", "generate.py")

# Each room, the modules in it (a dotted name, or a package and everything
# under it), and the rooms it may import: `common` (what every layer uses)
# at the bottom, the data side below the model
# layer, the run directory's room beside the model layer, training,
# evaluation and generation on top of both (never one another), and the
# programs on top of everything. README's "How the code is laid out" says
# the same in words.
ROOMS = {
    "common": (("common",), ()),
    "data": (("pipelines",), ("common",)),
    "model": (("vae",), ("common", "data")),
    "rundir": (("vae.rundir",), ("common", "data", "model")),
    "training": (("vae.training",), ("common", "data", "model", "rundir")),
    "evaluation": (("vae.evaluation",), ("common", "data", "model", "rundir")),
    "generation": (("vae.generation",), ("common", "data", "model", "rundir")),
    "programs": (("train_loop", "evaluate", "generate", "vae.pretrained"),
                 ("common", "data", "model", "rundir", "training", "evaluation", "generation")),
}


def project_modules():
  """{dotted module name: file path} of every Python file in SOURCES."""
  modules = {}
  for source in SOURCES:
    path = os.path.join(ROOT, source)
    if path.endswith(".py"):
      modules[source[:-3]] = path
      continue
    for folder, _, names in os.walk(path):
      for name in names:
        if name.endswith(".py"):
          parts = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].split(os.sep)
          if parts[-1] == "__init__":
            parts = parts[:-1]
          modules[".".join(parts)] = os.path.join(folder, name)
  return modules


def room_of(module):
  """The room whose most specific prefix names `module`."""
  best, length = None, -1
  for room, (prefixes, _) in ROOMS.items():
    for prefix in prefixes:
      if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
        best, length = room, len(prefix)
  return best


def imports(module, path, modules):
  """(line, imported project module) of every import in the file at `path`."""
  package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read(), path)
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] +
                        ([base] if base else []))
      # `from a import b` imports the module a.b when there is one, else a name of a.
      names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
               for alias in node.names]
    else:
      continue
    for name in names:
      while name and name not in modules:
        name = name.rpartition(".")[0]  # `import a.b.c` of a package: its nearest module.
      if name:
        found.append((node.lineno, name))
  return found


def violations(modules):
  """"path:line (room) imports module (room)" for every import against the direction."""
  wrong = []
  for module, path in sorted(modules.items()):
    room = room_of(module)
    allowed = {room, *ROOMS[room][1]} if room != "programs" else set(ROOMS[room][1])
    for line, target in imports(module, path, modules):
      target_room = room_of(target)
      if target_room not in allowed and target != module:
        wrong.append(f"{os.path.relpath(path, ROOT)}:{line} ({room}) imports {target} ({target_room})")
  return wrong


class ImportDirectionTest(unittest.TestCase):

  def test_every_module_has_a_room(self):
    homeless = sorted(m for m in project_modules() if room_of(m) is None)
    self.assertEqual(homeless, [], "add these modules to a room of ROOMS (and to README)")

  def test_no_import_runs_against_the_stated_direction(self):
    self.assertEqual(violations(project_modules()), [])

  def test_an_import_against_the_direction_is_found_even_inside_a_function(self):
    modules = project_modules()
    with tempfile.TemporaryDirectory() as folder:
      fake = os.path.join(folder, "fake.py")
      with open(fake, "w", encoding="utf-8") as f:
        f.write("from vae import config\n\ndef f():\n  from vae.evaluation import report\n"
                "  import train_loop\n")
      found = violations({**modules, "vae.training.fake": fake})
      found += violations({**modules, "pipelines.fake": fake})
    self.assertEqual([line.split(" ", 1)[1] for line in found], [
        "(training) imports vae.evaluation.report (evaluation)",
        "(training) imports train_loop (programs)",
        "(data) imports vae.config (model)",
        "(data) imports vae.evaluation.report (evaluation)",
        "(data) imports train_loop (programs)"])


if __name__ == "__main__":
  unittest.main()
