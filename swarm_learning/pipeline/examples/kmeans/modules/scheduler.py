"""Stop once the centroids settle; else run the next assignment on the contributing nodes."""

from swarm_learning.pipeline import Task


class Scheduler(Task):
    def run(self) -> None:
        (update,) = self.world.results.select("centroids").values()
        tolerance = self.world.globals["settings"]["tolerance"]
        print(f"iteration {self.world.current_iteration}: centroids moved {update['shift']:.6f}")
        if update["shift"] < tolerance:
            self.world.stop_swarm()
        else:
            self.world.schedule_next_iter(node_ids=update["nodes"], task_to_schedule_alias="assign")
