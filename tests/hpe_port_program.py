# ruff: noqa  (HPE's example's own style, kept as it is: only its import line changed)
"""HPE's public PyTorch MNIST example in its shape (its functions, its environment variables,
its callback arguments in HPE's spelling), on scikit-learn's digits instead of MNIST; for
tests/test_e2e_hpe_port.py, not a test module. Only the import line differs from HPE's:
`from swarmlearning.pyt import SwarmCallback` became the line below."""

import datetime
import logging
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from swarm_learning.pyt import SwarmCallback

default_max_epochs = 5
default_min_peers = 2
# maximum number of batches after which we sync up
trainPrint = True
# tell swarm after how many batches
# should it Sync. We are not doing
# adaptiveRV here, its a simple and quick demo run
swSyncInterval = 8


class mnistNet(nn.Module):
    def __init__(self):
        super(mnistNet, self).__init__()
        self.dense = nn.Linear(64, 64)
        self.dropout = nn.Dropout(0.1)
        self.dense1 = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.dense(x)
        x = F.relu(x)
        x = self.dropout(x)
        x = self.dense1(x)
        output = F.log_softmax(x, dim=1)
        return output


def loadData(dataDir):
    # load data from npz format to numpy
    path = os.path.join(dataDir, "mnist.npz")
    with np.load(path) as f:
        xTrain, yTrain = f["x_train"], f["y_train"]
        xTest, yTest = f["x_test"], f["y_test"]
        xTrain, xTest = xTrain / 16.0, xTest / 16.0

    # transform numpy to torch.Tensor
    xTrain, yTrain, xTest, yTest = map(
        torch.tensor,
        (
            xTrain.astype(np.float32),
            yTrain.astype(np.int_),
            xTest.astype(np.float32),
            yTest.astype(np.int_),
        ),
    )
    # convert torch.Tensor to a dataset
    yTrain = yTrain.type(torch.LongTensor)
    yTest = yTest.type(torch.LongTensor)
    trainDs = torch.utils.data.TensorDataset(xTrain, yTrain)
    testDs = torch.utils.data.TensorDataset(xTest, yTest)
    return trainDs, testDs


def doTrainBatch(model, device, trainLoader, optimizer, epoch, swarmCallback):
    model.train()
    for batchIdx, (data, target) in enumerate(trainLoader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if trainPrint and batchIdx % 10 == 0:
            print(
                "Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                    epoch,
                    batchIdx * len(data),
                    len(trainLoader.dataset),
                    100.0 * batchIdx / len(trainLoader),
                    loss.item(),
                )
            )
        # Swarm Learning Interface
        if swarmCallback is not None:
            swarmCallback.on_batch_end()


def test(model, device, testLoader):
    model.eval()
    testLoss = 0
    correct = 0
    with torch.no_grad():
        for data, target in testLoader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            testLoss += F.nll_loss(output, target, reduction="sum").item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    testLoss /= len(testLoader.dataset)
    print(
        "Test set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)".format(
            testLoss, correct, len(testLoader.dataset), 100.0 * correct / len(testLoader.dataset)
        )
    )
    return correct / len(testLoader.dataset)


def main():
    dataDir = os.getenv("DATA_DIR", "./data")
    modelDir = os.getenv("MODEL_DIR", "./model")
    max_epochs = int(os.getenv("MAX_EPOCHS", str(default_max_epochs)))
    min_peers = int(os.getenv("MIN_PEERS", str(default_min_peers)))
    batchSz = 32
    trainDs, testDs = loadData(dataDir)
    useCuda = torch.cuda.is_available()
    device = torch.device("cuda" if useCuda else "cpu")
    model = mnistNet().to(device)
    model_name = "mnist_pyt"
    opt = torch.optim.Adam(model.parameters())
    trainLoader = torch.utils.data.DataLoader(trainDs, batch_size=batchSz)
    testLoader = torch.utils.data.DataLoader(testDs, batch_size=batchSz)

    # Create Swarm callback
    swarmCallback = None
    swarmCallback = SwarmCallback(
        syncFrequency=swSyncInterval,
        minPeers=min_peers,
        useAdaptiveSync=False,
        adsValData=testDs,
        adsValBatchSize=batchSz,
        model=model,
        checkinModelOnTrainEnd="snapshot",
        trainingContract="defaultbb.cqdb.sml.hpe",
        nodeWeightage=50,
        mlPlatform="PYTORCH",
        totalEpochs=max_epochs,
        lossFunction="NLLLoss",
        lossFunctionArgs={"reduction": "mean"},
        metricFunction="MulticlassAccuracy",
        metricFunctionArgs={"num_classes": 10},
    )
    swarmCallback.logger.setLevel(logging.DEBUG)
    # initalize swarmCallback and do first sync
    swarmCallback.on_train_begin()

    for epoch in range(1, max_epochs + 1):
        doTrainBatch(model, device, trainLoader, opt, epoch, swarmCallback)
        test(model, device, testLoader)
        swarmCallback.on_epoch_end(epoch)

    # handles what to do when training ends
    swarmCallback.on_train_end()

    # Save model and weights
    saved_model_path = os.path.join(modelDir, model_name, "saved_model.pt")
    # Pytorch model save function expects the directory to be created before hand.
    os.makedirs(os.path.join(modelDir, model_name), exist_ok=True)
    torch.save(model, saved_model_path)
    accuracy = test(model, device, testLoader)
    with open(os.path.join(modelDir, "accuracy.txt"), "w") as handle:
        handle.write(str(accuracy))
    print("Saved the trained model!", datetime.datetime.now())


if __name__ == "__main__":
    main()
