"""The agent step loop.

A run is a sequence of steps; a step is one model call plus the tool calls it asks for,
carried out by one Celery task. Everything a step needs is in the database, so any
worker can pick a run up where it stopped:

- `(run, step number)` identifies a step (`AgentStep`). A redelivered step that is done
  does nothing.
- The model's reply is stored before any tool runs, so a retried step replays the same
  tool calls rather than asking the model again.
- Each tool call writes its "started" row, then runs the tool and writes its completion
  row in one transaction. A call whose completion exists is never run again (its stored
  output is reused). A worker killed while a low-risk tool runs rolls that tool's
  database work back, and the retry runs it once more. A medium- or high-risk call
  (files, commands, git) acts where no transaction reaches, so it runs outside one
  (holding no lock for the minutes a command may take), and one whose started row has
  no completion is never run again blindly: the model is told it was interrupted.
- Bad arguments from the model go back to it as a tool error; they never crash the run.

`steps.step_execute` carries a step out (the Celery task's entry point); `replies` asks
for and stores the model's reply; `calls` runs and logs its tool calls and ends the step.
"""
