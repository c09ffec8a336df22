using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>
/// A farm started by the repository's own <c>./farm</c> script (the code path of <c>./farm demo</c>) in a temp
/// <c>FARM_DIR</c> on free loopback ports, with the published binaries (<c>--no-install --no-build</c>).
/// Dispose runs <c>./farm down</c>, which stops exactly the processes this farm started.
/// </summary>
internal sealed class LocalFarm : IDisposable
{
    private readonly TempDirectory _dir = new("bf-localfarm");
    private readonly Dictionary<string, string> _environment;
    private HttpClient? _api;

    public LocalFarm(string? workers = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        _environment = new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["FARM_DIR"] = Dir };
        if (workers is not null)
            _environment["FARM_WORKERS"] = workers;
    }

    public string Dir => _dir.Path;

    /// <summary>Where the origin store's logical <c>/nix/store</c> lives physically.</summary>
    public string OriginPath(string storePath) => Path.Combine(Dir, "origin") + storePath;

    public HttpClient Api => _api ??= new HttpClient
    {
        BaseAddress = new Uri(File.ReadAllText(Path.Combine(Dir, "dispatcher.url")).Trim() + "/"),
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary><c>./farm ARGS</c> with this farm's FARM_DIR; stdout, stderr and the exit code.</summary>
    public Task<ProcessResult> RunAsync(TimeSpan timeout, params string[] args) =>
        ProcessRunner.RunAsync(Path.Combine(RepoPaths.Root, "farm"), args, environment: _environment, workingDirectory: RepoPaths.Root, timeout: timeout);

    public async Task<IReadOnlyList<BuildView>> BuildsAsync() =>
        await Api.GetFromJsonAsync<List<BuildView>>("api/builds?limit=1000") ?? [];

    /// <summary>What a failing test prints: the tail of every process log of this farm.</summary>
    public string Logs()
    {
        var logs = Path.Combine(Dir, "logs");
        if (!Directory.Exists(logs))
            return "(no logs)";
        return string.Join('\n', Directory.EnumerateFiles(logs, "*.log").Order(StringComparer.Ordinal).Select(f =>
            $"== {Path.GetFileName(f)}\n" + string.Join('\n', File.ReadLines(f).TakeLast(25))));
    }

    public void Dispose()
    {
        _api?.Dispose();
        try
        {
            RunAsync(TimeSpan.FromMinutes(2), "down").GetAwaiter().GetResult();
        }
        finally
        {
            _dir.Dispose();
        }
    }
}
