"""The scan runtime: run the selected scanners against one image, in parallel, and store it."""
