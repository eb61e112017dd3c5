"""One module per SOURCE kind (folder, manifest, npz) listing labelled files; `build` decodes
them through `decode` (the dispatcher over `image` and `medical`) into an ImageSet. `items` holds
the records they share and imports none of them, so the imports here form no cycle."""
