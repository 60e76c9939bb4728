"""Worker: train the global model on this node's digits for the configured epochs."""

from swarm_learning.pipeline import Task, bytes_to_numpy, numpy_to_bytes

from .model import MLP


class Worker(Task):
    def run(self) -> None:
        hyperparameters = self.world.globals["hyperparameters"]
        data = self.local.get_numpy_data("digits/train.npz")
        model = MLP()
        model.set_weights(bytes_to_numpy(self.world.globals["global_model_params"]))
        loss = model.train(data["X"], data["y"], hyperparameters, seed=self.world.current_iteration)
        self.world.results.add("model_params", numpy_to_bytes(model.get_weights()))
        self.world.results.add("metrics", {"loss": loss, "samples": int(len(data["y"]))})
