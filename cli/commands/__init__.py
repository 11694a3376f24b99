"""The CLI's commands, one module per topic; cli.main puts them together."""
