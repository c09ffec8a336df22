using System.Globalization;
using BuildFarm.Cli.Api;
using BuildFarm.Dispatcher.Api;

namespace BuildFarm.Cli.Store;

/// <summary>
/// The dispatcher's store roots as <c>buildfarm store gc</c> needs them (GET /api/store/roots, docs/api.md): every page
/// from the first to the last, then, while gc deletes, the roots that appeared since. What makes that safe is the
/// dispatcher's: its pages follow orders in which a root never moves backwards, and its last cursor, asked again,
/// returns the builds and graphs stored after it. A dispatcher older than paging answers everything at once and no
/// cursor: then each refresh asks everything again, as gc did before.
/// </summary>
internal sealed class StoreRootsWalk
{
    private readonly DispatcherClient _api;
    private readonly long _recentSeconds;
    private readonly int _page;
    private string? _cursor;
    private bool _walked;

    private StoreRootsWalk(DispatcherClient api, long recentSeconds, int page)
    {
        _api = api;
        _recentSeconds = recentSeconds;
        _page = page;
    }

    /// <summary>Derivations and closures of open builds and paths of running graphs, from the first walk.</summary>
    public HashSet<string> Live { get; } = new(StringComparer.Ordinal);

    /// <summary>Output paths of builds that succeeded within the recent window, from the first walk.</summary>
    public HashSet<string> Recent { get; } = new(StringComparer.Ordinal);

    /// <summary>Roots (live or recent) first seen by a <see cref="RefreshAsync"/>: gc must not delete them.</summary>
    public HashSet<string> Appeared { get; } = new(StringComparer.Ordinal);

    /// <summary>Walks every page; refuses (<see cref="CliError"/>) when the dispatcher does not answer.</summary>
    public static async Task<StoreRootsWalk> StartAsync(DispatcherClient api, long recentSeconds, int page, CancellationToken cancellationToken)
    {
        var walk = new StoreRootsWalk(api, recentSeconds, page);
        await walk.WalkAsync(walk.Live, walk.Recent, cancellationToken);
        walk._walked = true;
        return walk;
    }

    /// <summary>Adds to <see cref="Appeared"/> what the dispatcher stored since the last page (or, from an old dispatcher, everything it names now).</summary>
    public Task RefreshAsync(CancellationToken cancellationToken) => WalkAsync(Appeared, Appeared, cancellationToken);

    private async Task WalkAsync(HashSet<string> live, HashSet<string> recent, CancellationToken cancellationToken)
    {
        var first = !_walked;
        var url = _cursor is null
            ? string.Create(CultureInfo.InvariantCulture, $"api/store/roots?recentSeconds={_recentSeconds}&limit={_page}")
            : After(_cursor);
        while (true)
        {
            var view = await AskAsync(url, first, cancellationToken);
            live.UnionWith(view.Live);
            recent.UnionWith(view.Recent);
            // An old dispatcher: no cursor, everything in this one answer; the next refresh asks it all again.
            if (view.Cursor is null)
                return;
            _cursor = view.Cursor;
            if (!view.More)
                return;
            url = After(_cursor);
        }
    }

    private string After(string cursor) => string.Create(CultureInfo.InvariantCulture, $"api/store/roots?after={Uri.EscapeDataString(cursor)}&limit={_page}");

    private async Task<StoreRootsView> AskAsync(string url, bool first, CancellationToken cancellationToken)
    {
        try
        {
            return await _api.GetAsync<StoreRootsView>(url, cancellationToken);
        }
        catch (CliError e)
        {
            throw new CliError($"refused: the dispatcher did not say what its queued and running builds need, so nothing {(first ? "is" : "more is")} deleted: {e.Message}");
        }
    }
}
