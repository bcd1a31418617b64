"""Pure rendering: from the validated inventory model to the text of every configuration file.

`render_host(inventory, hostname)` is what the deploy pushes to one host and what
`trainbed render` writes for review, so the two agree by construction.
"""

from trainbed.render.files import RenderedFile, render_cluster, render_host

__all__ = ["RenderedFile", "render_cluster", "render_host"]
