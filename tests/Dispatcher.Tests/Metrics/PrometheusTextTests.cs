using System.Globalization;
using System.Text.RegularExpressions;
using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Tests.Ui;

namespace BuildFarm.Dispatcher.Tests.Metrics;

/// <summary>/metrics parsed line by line with the Prometheus text format 0.0.4 grammar, histograms checked for consistency.</summary>
public sealed partial class PrometheusTextTests
{
    [Fact]
    public async Task Metrics_SeededFarm_ParsesAsPrometheusText_WithHistogramsCountersAndGauges()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux", slots: 3));
        await h.HeartbeatAsync("w\"odd\\name", UiHarness.Caps("aarch64-linux", slots: 1));
        var a = await h.SubmitAsync("a");
        await h.StartBuildAsync(a, "w1");
        await h.SucceedWithPhasesAsync(a, "w1", new PhaseTimings(TimeSpan.FromSeconds(0.3), TimeSpan.FromSeconds(42), TimeSpan.FromSeconds(2)));
        var b = await h.SubmitAsync("b");
        await h.StartBuildAsync(b, "w1");
        await h.FailAsync(b, "w1");
        var c = await h.SubmitAsync("c");
        await h.StartBuildAsync(c, "w1");
        using var client = h.Client();

        var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var families = Parse(text);
        Assert.Equal("histogram", families["buildfarm_phase_seconds"].Type);
        Assert.Equal("counter", families["buildfarm_builds_finished_total"].Type);
        Assert.Equal("gauge", families["buildfarm_queue_depth"].Type);
        var samples = families.Values.SelectMany(f => f.Samples).ToArray();
        double Value(string name, string labels) => Assert.Single(samples, s => s.Name == name && s.Labels == labels).Value;
        Assert.Equal(1, Value("buildfarm_builds_finished_total", "outcome=\"succeeded\""));
        Assert.Equal(1, Value("buildfarm_builds_finished_total", "outcome=\"BuildFailure\""));
        Assert.Equal(4, Value("buildfarm_slots", ""));
        Assert.Equal(1, Value("buildfarm_slots_used", ""));
        Assert.Equal(1, Value("buildfarm_phase_seconds_count", "phase=\"build\""));
        Assert.Equal(42, Value("buildfarm_phase_seconds_sum", "phase=\"build\""));
        Assert.Equal(0, Value("buildfarm_phase_seconds_bucket", "phase=\"build\",le=\"15\""));
        Assert.Equal(1, Value("buildfarm_phase_seconds_bucket", "phase=\"build\",le=\"60\""));
        Assert.Equal(1, Value("buildfarm_phase_seconds_bucket", "phase=\"input_fetch\",le=\"0.5\""));
        Assert.Equal(3, Value("buildfarm_phase_seconds_count", "phase=\"queued\""));
        Assert.Equal(1, Value("buildfarm_worker_slots", "worker=\"w\\\"odd\\\\name\""));
        foreach (var phase in new[] { "queued", "input_fetch", "build", "upload", "import" })
        {
            var buckets = samples.Where(s => s.Name == "buildfarm_phase_seconds_bucket" && s.Labels.StartsWith($"phase=\"{phase}\"", StringComparison.Ordinal)).ToArray();
            Assert.True(buckets.Zip(buckets.Skip(1)).All(p => p.First.Value <= p.Second.Value), $"{phase} buckets are cumulative");
            Assert.EndsWith("le=\"+Inf\"", buckets[^1].Labels);
            Assert.Equal(buckets[^1].Value, Value("buildfarm_phase_seconds_count", $"phase=\"{phase}\""));
        }
    }

    private static readonly string[] Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    private sealed record Sample(string Name, string Labels, double Value);

    private sealed record Family(string Type, List<Sample> Samples);

    /// <summary>Every line is a HELP, a TYPE (before its samples, once) or a sample of a declared family; anything else fails.</summary>
    private static Dictionary<string, Family> Parse(string text)
    {
        Assert.EndsWith("\n", text);
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        foreach (var line in text[..^1].Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                Assert.Matches(MetricName(), line.Split(' ')[2]);
                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Assert.Equal(4, parts.Length);
                Assert.Contains(parts[3], Types);
                Assert.True(families.TryAdd(parts[2], new Family(parts[3], [])), $"TYPE {parts[2]} declared twice");
                continue;
            }

            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"not a Prometheus sample line: {line}");
            var name = m.Groups["name"].Value;
            var family = families.Keys.SingleOrDefault(f => name == f
                || (families[f].Type == "histogram" && (name == f + "_bucket" || name == f + "_sum" || name == f + "_count")));
            Assert.True(family is not null, $"sample {name} before (or without) its TYPE line");
            var value = m.Groups["value"].Value;
            families[family!].Samples.Add(new Sample(name, m.Groups["labels"].Value, value == "+Inf" ? double.PositiveInfinity : double.Parse(value, CultureInfo.InvariantCulture)));
        }

        return families;
    }

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*")*)\})? (?<value>-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$""")]
    private static partial Regex SampleLine();
}
