using BuildFarm.Dispatcher.Graphs;

namespace BuildFarm.Dispatcher.Tests.Graphs;

public sealed class GraphPlannerTests
{
    // a ← b1, b2 ← c (c needs b1 and b2; both need a); d is independent of a.
    private static PlanNode[] Diamond(string a = "waiting", string b1 = "waiting", string b2 = "waiting", string c = "waiting", string d = "waiting") =>
    [
        new("a", [], a), new("b1", ["a"], b1), new("b2", ["a"], b2), new("c", ["b1", "b2"], c), new("d", [], d),
    ];

    [Fact]
    public void Next_FreshGraph_SubmitsOnlyLeaves()
    {
        var step = GraphPlanner.Next(Diamond(), keepGoing: false);
        Assert.Equal(["a", "d"], step.Ready);
        Assert.Null(step.Outcome);
        Assert.Empty(step.DependencyFailed);
    }

    [Fact]
    public void Next_LeafDone_SubmitsAllItsDependentsAtOnce()
    {
        var step = GraphPlanner.Next(Diamond(a: "succeeded", d: "submitted"), keepGoing: false);
        Assert.Equal(["b1", "b2"], step.Ready);
    }

    [Fact]
    public void Next_SkippedInputCountsAsDone()
    {
        var step = GraphPlanner.Next(Diamond(a: "skipped", b1: "skipped", b2: "succeeded", d: "skipped"), keepGoing: false);
        Assert.Equal(["c"], step.Ready);
    }

    [Fact]
    public void Next_OneInputStillRunning_DependentWaits()
    {
        var step = GraphPlanner.Next(Diamond(a: "succeeded", b1: "succeeded", b2: "submitted", d: "succeeded"), keepGoing: false);
        Assert.Empty(step.Ready);
        Assert.Null(step.Outcome);
    }

    [Fact]
    public void Next_FailureWithoutKeepGoing_StopsEverythingWaitingAndLetsRunningFinish()
    {
        var step = GraphPlanner.Next(Diamond(a: "failed", d: "waiting"), keepGoing: false);
        Assert.Empty(step.Ready);
        Assert.Equal(["b1", "b2", "c"], step.DependencyFailed.Select(x => x.DrvPath).Order(StringComparer.Ordinal));
        Assert.All(step.DependencyFailed, x => Assert.Equal("dependency failed: a", x.Reason));
        var stopped = Assert.Single(step.Stopped);
        Assert.Equal("d", stopped.DrvPath);
        Assert.Contains("a failed", stopped.Reason, StringComparison.Ordinal);
        Assert.Equal(GraphState.Failed, step.Outcome);
    }

    [Fact]
    public void Next_FailureWithoutKeepGoing_GraphOpenWhileABuildRuns()
    {
        var step = GraphPlanner.Next(Diamond(a: "succeeded", b1: "failed", b2: "submitted"), keepGoing: false);
        Assert.Empty(step.Ready);
        Assert.Equal(["c"], step.DependencyFailed.Select(x => x.DrvPath));
        Assert.Equal(["d"], step.Stopped.Select(x => x.DrvPath));
        Assert.Null(step.Outcome);
    }

    [Fact]
    public void Next_FailureWithKeepGoing_IndependentNodesStillRun()
    {
        var step = GraphPlanner.Next(Diamond(a: "failed"), keepGoing: true);
        Assert.Equal(["d"], step.Ready);
        Assert.Empty(step.Stopped);
        Assert.Equal(3, step.DependencyFailed.Count);
        Assert.Null(step.Outcome);
    }

    [Fact]
    public void Next_TransitiveDependencyFailure_NamesTheRootFailure()
    {
        PlanNode[] chain = [new("x", [], "failed"), new("y", ["x"], "dependency-failed"), new("z", ["y"], "waiting")];
        var step = GraphPlanner.Next(chain, keepGoing: true);
        var z = Assert.Single(step.DependencyFailed);
        Assert.Equal(("z", "dependency failed: x"), z);
        Assert.Equal(GraphState.Failed, step.Outcome);
    }

    [Fact]
    public void Next_EverythingDoneOrSkipped_Succeeds()
    {
        var step = GraphPlanner.Next(Diamond("succeeded", "skipped", "succeeded", "succeeded", "skipped"), keepGoing: false);
        Assert.Empty(step.Ready);
        Assert.Equal(GraphState.Succeeded, step.Outcome);
    }

    [Fact]
    public void Next_AllTargetsAlreadyValid_SucceedsWithoutBuilding()
    {
        var step = GraphPlanner.Next([new PlanNode("t", [], "skipped")], keepGoing: false);
        Assert.Empty(step.Ready);
        Assert.Equal(GraphState.Succeeded, step.Outcome);
    }
}
