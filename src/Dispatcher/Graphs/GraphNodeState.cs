namespace BuildFarm.Dispatcher.Graphs;

/// <summary>States of a graph node; stored lower-case in <c>graph_nodes.state</c>.</summary>
internal static class GraphNodeState
{
    /// <summary>Every wanted output was already valid in the origin store: nothing to build.</summary>
    public const string Skipped = "skipped";

    /// <summary>Some input derivation is not done yet.</summary>
    public const string Waiting = "waiting";

    /// <summary>Handed to the lifecycle as build <c>build_id</c> (queued or running there).</summary>
    public const string Submitted = "submitted";

    public const string Succeeded = "succeeded";

    /// <summary>Its build failed (or was refused or cancelled).</summary>
    public const string Failed = "failed";

    /// <summary>An input derivation failed, so it can never build.</summary>
    public const string DependencyFailed = "dependency-failed";

    /// <summary>Not started because another node failed and the graph does not keep going.</summary>
    public const string Stopped = "stopped";

    public static bool IsDone(string state) => state is Succeeded or Skipped;

    public static bool IsOpen(string state) => state is Waiting or Submitted;
}

/// <summary>States of a graph; stored in <c>graphs.state</c>.</summary>
internal static class GraphState
{
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}
