using System.Globalization;

namespace BuildFarm.Worker.Hosting;

/// <summary>
/// Test-only hook for fault injection (bench/soak): with <c>BUILDFARM_TEST_CLOCK_OFFSET_SECONDS</c> set, the worker's
/// clock (its <see cref="TimeProvider"/>: request freshness, heartbeat times, timestamps it reports) runs that many
/// seconds ahead (negative: behind) of the machine's, as on a host whose clock drifted. Timers and delays are the
/// machine's. Unset (every real farm), the system clock.
/// </summary>
internal sealed class TestClockOffset(TimeSpan offset) : TimeProvider
{
    public const string Variable = "BUILDFARM_TEST_CLOCK_OFFSET_SECONDS";

    public static TimeProvider? FromEnvironment() =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } text
            ? new TestClockOffset(TimeSpan.FromSeconds(double.Parse(text, CultureInfo.InvariantCulture)))
            : null;

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + offset;
}
