"""``python -m bench.simproc --port P [--agents N]``: the simulator in its own process, until SIGTERM.

Benchmarks run the upstream in a process of its own so that its CPU is never counted
as the bridge's (or a peer's).
"""

import argparse
import asyncio
import logging
import signal

from statsbridge.simulator import SimulatorConfig, start_simulator


async def serve(config: SimulatorConfig) -> None:
    """Serve until SIGTERM or SIGINT."""
    running = await start_simulator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"simulator ready on {running.url}", flush=True)
    await stop.wait()
    await running.stop()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--agents", type=int, default=24)
    parser.add_argument("--queues", type=int, default=4)
    parser.add_argument("--connect-timeout-ms", type=int, default=25_000)
    parser.add_argument("--max-queue", type=int, default=100_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = SimulatorConfig(port=args.port, agents=args.agents, queues=args.queues,
                             connect_timeout_ms=args.connect_timeout_ms, max_queue_per_session=args.max_queue)
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
