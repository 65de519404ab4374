"""`trainer mcp`: the runs, snapshots, sweeps and reviews of one receipts table as MCP tools,
resources and prompts, for agents without a shell. Read-only.

- `tools`: the catalogue; each tool calls the same domain function as its `--json` command,
  so the two answers cannot drift (`schemas` gives each its input and output JSON schema);
- `session`: what a server holds (the read-only connection, the snapshot root, a cache of the
  records of finished runs), `paging`: cursors for long answers;
- `resources`, `prompts`: the agent context document, each run's report, the guide's workflows;
- `server`: the MCP SDK glue (stdio or streamable HTTP), the only module that imports `mcp`.
"""
