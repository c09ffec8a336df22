namespace BuildFarm.Store.Nar;

/// <summary>
/// Reads exactly one NAR from a stream and stops after its last token, so NARs can be embedded in larger streams
/// (export archives, transfer protocols). Only the canonical form is accepted; see <see cref="NarFormatException"/>.
/// </summary>
public static class NarReader
{
    public static Task RestoreAsync(Stream input, string targetPath, CancellationToken cancellationToken) =>
        RestoreAsync(input, targetPath, rejectTrailingData: false, cancellationToken);

    /// <summary>
    /// Restores the NAR into <paramref name="targetPath"/>, which must not exist while its parent must. On any failure
    /// (format, I/O, cancellation) everything created is removed before the exception propagates: format problems
    /// are <see cref="NarFormatException"/>, file system problems <see cref="IOException"/>.
    /// With <paramref name="rejectTrailingData"/> the stream must end right after the NAR.
    /// </summary>
    public static Task RestoreAsync(Stream input, string targetPath, bool rejectTrailingData, CancellationToken cancellationToken) =>
        RestoreAsync(input, targetPath, rejectTrailingData, null, cancellationToken);

    /// <summary>As above; with <paramref name="syncer"/> every restored file is handed to it to be flushed to disk.</summary>
    internal static async Task RestoreAsync(Stream input, string targetPath, bool rejectTrailingData, Local.FileSyncer? syncer, CancellationToken cancellationToken)
    {
        var target = Path.GetFullPath(targetPath).TrimEnd('/');
        if (Exists(target))
            throw new IOException($"cannot restore a NAR to '{target}': it already exists");
        var parent = Path.GetDirectoryName(target);
        if (parent is null || !Directory.Exists(parent))
            throw new IOException($"cannot restore a NAR to '{target}': the parent directory does not exist");
        try
        {
            await new NarParser(input, new FileSystemNarSink(target, syncer)).ParseAsync(rejectTrailingData, cancellationToken);
        }
        catch (Exception)
        {
            Remove(target);
            throw;
        }
    }

    public static Task SkipAsync(Stream input, CancellationToken cancellationToken) =>
        SkipAsync(input, rejectTrailingData: false, cancellationToken);

    /// <summary>Validates and consumes one NAR, writing nothing.</summary>
    public static Task SkipAsync(Stream input, bool rejectTrailingData, CancellationToken cancellationToken) =>
        new NarParser(input, NullNarSink.Instance).ParseAsync(rejectTrailingData, cancellationToken);

    private static bool Exists(string path) => Local.StoreFiles.KindOf(path) != Local.EntryKind.Missing;

    /// <summary>Best-effort removal of a partial restore; the original error matters more than a cleanup error.</summary>
    private static void Remove(string target)
    {
        try
        {
            Local.StoreFiles.Delete(target);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
