using Xunit;

namespace BuildFarm.Testing;

/// <summary>Reads the output of <c>buildfarm probe</c>: one paragraph per worker, starting with <c>NAME: verdict</c>.</summary>
public static class ProbeReport
{
    /// <summary>The paragraph of <paramref name="worker"/>; fails the test naming the whole output when it is absent.</summary>
    public static string Section(string text, string worker)
    {
        var start = text.IndexOf($"\n{worker}:", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no paragraph for {worker} in:\n{text}");
        var end = text.IndexOf("\n\n", start + 1, StringComparison.Ordinal);
        return end < 0 ? text[start..] : text[start..end];
    }
}
