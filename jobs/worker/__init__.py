"""The worker process: running one step (step_runner), its heartbeat, its log writer,
the dispatcher loop, the supervisor of `serve`/`worker`, and worker-host bookkeeping."""
