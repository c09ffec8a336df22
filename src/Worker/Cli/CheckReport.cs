namespace BuildFarm.Worker.Cli;

/// <summary>
/// What <c>buildfarm-worker check</c> prints: one line per check, <c>ok</c>, <c>FAIL</c> (with a <c>fix:</c> line) or
/// <c>warn</c> (printed, not counted); the exit code is non-zero when any check failed.
/// </summary>
internal sealed class CheckReport(TextWriter output)
{
    public int Problems { get; private set; }

    public void Ok(string what, string detail) => output.WriteLine($"ok   {what}: {detail}");

    public void Warn(string what, string detail) => output.WriteLine($"warn {what}: {detail}");

    public void Fail(string what, string detail, string fix)
    {
        output.WriteLine($"FAIL {what}: {detail}");
        output.WriteLine($"     fix: {fix}");
        Problems++;
    }

    public void Check(bool ok, string what, string detail, string fix)
    {
        if (ok)
            Ok(what, detail);
        else
            Fail(what, detail, fix);
    }

    public int Finish()
    {
        output.WriteLine(Problems == 0 ? "all checks passed" : $"{Problems} problem(s)");
        return Problems == 0 ? 0 : 1;
    }
}
