"""Where generated code runs. `registry` lists the `hypr-edge generate --target` choices and writes them;
`boards` is the one table of Cortex-M boards; `cortex_m` writes and builds their firmware folders.
The registry is imported by name (hypr_edge.targets.registry), never from here, so that reading the board table
does not load every target."""
