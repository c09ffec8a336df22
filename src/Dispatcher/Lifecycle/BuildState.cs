namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>States of a build; stored lower-case in <c>builds.state</c>.</summary>
internal static class BuildState
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static bool IsFinished(string state) => state is Succeeded or Failed or Cancelled;
}
