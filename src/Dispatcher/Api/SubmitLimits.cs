using System.Globalization;

namespace BuildFarm.Dispatcher.Api;

/// <summary>The time limits a submission (build or graph) may ask for, checked before anything is stored.</summary>
internal static class SubmitLimits
{
    /// <summary>Longest limit accepted: a year is beyond any build, and far inside what a TimeSpan and the database hold.</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromDays(365);

    /// <summary>Null when both limits are acceptable, else the error for the client.</summary>
    public static string? Check(double timeoutSeconds, double maxSilentSeconds) =>
        Valid(timeoutSeconds) && Valid(maxSilentSeconds)
            ? null
            : string.Create(CultureInfo.InvariantCulture,
                $"timeoutSeconds and maxSilentSeconds must be 0 (none) or positive, at most {Longest.TotalSeconds:0} (a year)");

    private static bool Valid(double seconds) => double.IsFinite(seconds) && seconds >= 0 && seconds <= Longest.TotalSeconds;
}
