namespace BuildFarm.Store.Nar;

/// <summary>
/// Receives the objects of a NAR as the parser validates them, parents before children; paths are relative to the
/// archive root ("" is the root itself). A directory is ended after all its entries.
/// </summary>
internal interface INarSink
{
    void CreateDirectory(string relativePath);

    void EndDirectory(string relativePath);

    void CreateSymlink(string relativePath, string target);

    /// <summary>Starts a regular file; the parser then writes its contents in order and calls <see cref="INarFile.CompleteAsync"/>.</summary>
    INarFile CreateFile(string relativePath, bool executable, long length);
}

internal interface INarFile : IDisposable
{
    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>All contents written: the file gets its final mode and time (and may be handed on to be flushed).</summary>
    ValueTask CompleteAsync(CancellationToken cancellationToken);
}

/// <summary>Consumes without writing: validation only.</summary>
internal sealed class NullNarSink : INarSink, INarFile
{
    public static readonly NullNarSink Instance = new();

    public void CreateDirectory(string relativePath)
    {
    }

    public void EndDirectory(string relativePath)
    {
    }

    public void CreateSymlink(string relativePath, string target)
    {
    }

    public INarFile CreateFile(string relativePath, bool executable, long length) => this;

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask CompleteAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public void Dispose()
    {
    }
}
