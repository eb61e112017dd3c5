"""Figures and HTML pieces any command can draw: the comparison grid (Figure 2), loss curves,
and the report building blocks (style, inlined images, tables, verdict sentences)."""
