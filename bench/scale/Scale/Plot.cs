using System.Text.Json;

namespace BuildFarm.Scale;

/// <summary>The PNG of a results file: dispatcher CPU per build and RSS against builds stored, per phase; response times.</summary>
internal static class Plot
{
    public static int Write(string results, string png)
    {
        var phases = Read(results);
        var rss = new ScottPlot.Plot();
        var cpu = new ScottPlot.Plot();
        var api = new ScottPlot.Plot();

        foreach (var p in phases.Where(p => p.Samples.Count > 1))
        {
            var xs = p.Samples.Select(s => (double)s.Stored).ToArray();
            var line = rss.Add.Scatter(xs, p.Samples.Select(s => s.RssBytes / 1048576.0).ToArray());
            line.LegendText = p.Label;
            line.MarkerSize = 0;
        }

        rss.Title("Dispatcher resident memory while builds finish");
        rss.XLabel("builds stored in the database");
        rss.YLabel("RSS (MiB)");
        rss.ShowLegend(ScottPlot.Alignment.UpperLeft);

        var positions = Enumerable.Range(0, phases.Count).Select(i => (double)i).ToArray();
        var bars = cpu.Add.Bars(positions, phases.Select(p => p.CpuMsPerBuild).ToArray());
        cpu.Axes.Bottom.SetTicks(positions, [.. phases.Select(p => p.Label)]);
        cpu.Title("Dispatcher CPU per build (utime+stime / finished builds)");
        cpu.YLabel("ms per build");
        cpu.Axes.Margins(bottom: 0);
        _ = bars;

        var names = phases.SelectMany(p => p.Endpoints.Keys).Distinct().ToArray();
        foreach (var name in names)
        {
            var pts = phases.Where(p => p.Endpoints.ContainsKey(name)).ToArray();
            var s = api.Add.Scatter(pts.Select(p => (double)p.StoredBuilds).ToArray(), pts.Select(p => p.Endpoints[name].P50).ToArray());
            s.LegendText = name;
        }

        api.Title("API and UI response time (median) by builds stored");
        api.XLabel("builds stored in the database");
        api.YLabel("ms");
        api.Add.HorizontalLine(200).LinePattern = ScottPlot.LinePattern.Dashed;
        api.ShowLegend(ScottPlot.Alignment.UpperLeft);

        // Three panels stacked in one PNG.
        const int width = 1100, height = 500;
        using var surface = SkiaSharp.SKSurface.Create(new SkiaSharp.SKImageInfo(width, 3 * height));
        surface.Canvas.Clear(SkiaSharp.SKColors.White);
        var y = 0;
        foreach (var panel in new[] { rss, cpu, api })
        {
            using var bitmap = SkiaSharp.SKBitmap.Decode(panel.GetImageBytes(width, height, ScottPlot.ImageFormat.Png));
            surface.Canvas.DrawBitmap(bitmap, 0, y);
            y += height;
        }

        using var image = surface.Snapshot();
        using var data = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(png, data.ToArray());
        Console.Error.WriteLine($"wrote {png}");
        return 0;
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static List<PhaseResult> Read(string results) =>
        [.. File.ReadLines(results).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<PhaseResult>(l, Json)!)];
}

/// <summary>The Markdown table of a results file (docs/PERFORMANCE.md).</summary>
internal static class Table
{
    public static int Print(string results)
    {
        var phases = Plot.Read(results);
        Console.WriteLine("| phase | workers | builds | stored | wall s | builds/s | CPU ms/build | RSS MiB before → after | DB MiB | submit→start p50 / p99 ms | /api/builds | /api/workers | /metrics | slowest UI page |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var p in phases)
        {
            var ui = p.Endpoints.Where(e => e.Key.StartsWith("UI ", StringComparison.Ordinal)).MaxBy(e => e.Value.P50);
            Console.WriteLine(FormattableString.Invariant(
                $"| {p.Label} | {p.Workers} | {p.Finished}/{p.Builds} | {p.StoredBuilds} | {p.WallSeconds:0.0} | {p.BuildsPerSecond:0.0} | {p.CpuMsPerBuild:0.00} | {p.RssBefore >> 20} → {p.RssAfter >> 20} | {p.DbBytesAfter / 1048576.0:0.0} | {p.SubmitToStart.P50:0} / {p.SubmitToStart.P99:0} | {p.Endpoints["GET /api/builds?limit=100"].P50:0.0} | {p.Endpoints["GET /api/workers"].P50:0.0} | {p.Endpoints["GET /metrics"].P50:0.0} | {ui.Key[3..]} {ui.Value.P50:0.0} |"));
        }

        return 0;
    }
}
