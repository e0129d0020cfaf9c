"""Built-in plugins, installed under the import name `harness_plugins`.

They register through the `harness` entry-point group exactly as third-party packages do; the
folder is called `plugins/` in the source tree, but no top-level `plugins` module is installed.
"""
