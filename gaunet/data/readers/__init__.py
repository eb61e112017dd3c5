"""One module per SOURCE kind; `items.build_imageset` turns their file lists into an ImageSet."""
