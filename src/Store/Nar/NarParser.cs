using System.Text;

namespace BuildFarm.Store.Nar;

/// <summary>
/// A strict, streaming NAR parser: accepts exactly the canonical form <c>nix-store --dump</c> writes (so the bytes
/// it accepted hash to what the restored tree dumps to) and stops right after the archive's last token.
/// Directories are tracked on an explicit stack, so deep trees cannot overflow the call stack.
/// </summary>
internal sealed class NarParser(Stream input, INarSink sink)
{
    private const int ContentChunk = Local.FileSyncer.ChunkSize;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly NarInput _in = new(input);
    private readonly List<DirectoryFrame> _open = [];

    public async Task ParseAsync(bool rejectTrailingData, CancellationToken cancellationToken)
    {
        await ReadMagicAsync(cancellationToken);
        await ParseObjectAsync("/", cancellationToken);
        while (_open.Count > 0)
        {
            var dir = _open[^1];
            _in.EntryPath = dir.Path;
            var start = _in.Offset;
            var token = await _in.ReadStringAsync(NarTokens.MaxTokenLength, "a directory entry or ')'", cancellationToken);
            if (Is(token, NarTokens.Close))
            {
                _open.RemoveAt(_open.Count - 1);
                sink.EndDirectory(dir.Path);
                if (_open.Count > 0)
                    await _in.ExpectAsync(NarTokens.Close, cancellationToken);
                continue;
            }

            if (!Is(token, NarTokens.Entry))
                throw _in.Error($"expected 'entry' or ')' in a directory but found '{NarNames.Show(token.Span)}'", start);
            await _in.ExpectAsync(NarTokens.Open, cancellationToken);
            await _in.ExpectAsync(NarTokens.Name, cancellationToken);
            var child = await ReadEntryNameAsync(dir, cancellationToken);
            await _in.ExpectAsync(NarTokens.Node, cancellationToken);
            if (!await ParseObjectAsync(child, cancellationToken))
                await _in.ExpectAsync(NarTokens.Close, cancellationToken);
        }

        if (rejectTrailingData && !await _in.AtEndAsync(cancellationToken))
        {
            _in.EntryPath = "/";
            throw _in.Error("trailing data after the end of the NAR");
        }
    }

    private async Task ReadMagicAsync(CancellationToken cancellationToken)
    {
        var length = await _in.ReadU64Async("the magic 'nix-archive-1'", cancellationToken);
        var magicLength = NarTokens.Body(NarTokens.MagicBytes).Length;
        if (length != (ulong)magicLength)
            throw _in.Error("bad magic: the input does not start with the string 'nix-archive-1', so it is not a NAR", 0);
        var body = new byte[16];
        await _in.ReadExactAsync(body, "the magic 'nix-archive-1'", cancellationToken);
        if (!body.AsSpan(0, magicLength).SequenceEqual(NarTokens.Body(NarTokens.MagicBytes)))
            throw _in.Error($"bad magic '{NarNames.Show(body.AsSpan(0, magicLength))}', expected 'nix-archive-1': not a NAR", 0);
        _in.CheckPadding(body.AsSpan(magicLength), 0);
    }

    /// <summary>Parses <c>( type … </c>; true when it opened a directory whose entries the caller's loop reads.</summary>
    private async Task<bool> ParseObjectAsync(string path, CancellationToken cancellationToken)
    {
        _in.EntryPath = path;
        await _in.ExpectAsync(NarTokens.Open, cancellationToken);
        await _in.ExpectAsync(NarTokens.Type, cancellationToken);
        var start = _in.Offset;
        var type = await _in.ReadStringAsync(NarTokens.MaxTokenLength, "the object type", cancellationToken);
        if (Is(type, NarTokens.Regular))
        {
            await ParseRegularAsync(path, cancellationToken);
        }
        else if (Is(type, NarTokens.Symlink))
        {
            await ParseSymlinkAsync(path, cancellationToken);
        }
        else if (Is(type, NarTokens.Directory))
        {
            sink.CreateDirectory(path);
            _open.Add(new DirectoryFrame(path));
            return true;
        }
        else
        {
            throw _in.Error($"unknown object type '{NarNames.Show(type.Span)}' (expected 'regular', 'symlink' or 'directory')", start);
        }

        await _in.ExpectAsync(NarTokens.Close, cancellationToken);
        return false;
    }

    private async Task ParseRegularAsync(string path, CancellationToken cancellationToken)
    {
        var start = _in.Offset;
        var token = await _in.ReadStringAsync(NarTokens.MaxTokenLength, "'executable' or 'contents'", cancellationToken);
        var executable = Is(token, NarTokens.Executable);
        if (executable)
        {
            var markerStart = _in.Offset;
            var marker = await _in.ReadStringAsync(NarTokens.MaxTokenLength, "the empty string after 'executable'", cancellationToken);
            if (marker.Length != 0)
                throw _in.Error($"expected an empty string after 'executable' but found '{NarNames.Show(marker.Span)}'", markerStart);
            start = _in.Offset;
            token = await _in.ReadStringAsync(NarTokens.MaxTokenLength, "'contents'", cancellationToken);
        }

        if (!Is(token, NarTokens.Contents))
            throw _in.Error($"expected {(executable ? "" : "'executable' or ")}'contents' in a regular file but found '{NarNames.Show(token.Span)}'", start);
        var lengthStart = _in.Offset;
        var length = await _in.ReadU64Async("the file length", cancellationToken);
        if (length > long.MaxValue)
            throw _in.Error($"file length {length} is too large", lengthStart);
        using (var file = sink.CreateFile(path, executable, (long)length))
        {
            var remaining = (long)length;
            while (remaining > 0)
            {
                var chunk = await file.GetBufferAsync((int)Math.Min(remaining, ContentChunk), cancellationToken);
                await _in.ReadExactAsync(chunk, $"the contents of the file ({length} bytes)", cancellationToken);
                await file.WriteAsync(chunk, cancellationToken);
                remaining -= chunk.Length;
            }

            await _in.ReadPaddingAsync(NarTokens.Padding((long)length), "the padding after the file contents", cancellationToken);
            await file.CompleteAsync(cancellationToken);
        }
    }

    private async Task ParseSymlinkAsync(string path, CancellationToken cancellationToken)
    {
        await _in.ExpectAsync(NarTokens.Target, cancellationToken);
        var start = _in.Offset;
        var target = await _in.ReadStringAsync(NarTokens.MaxTokenLength, "the symlink target", cancellationToken);
        if (target.Length == 0)
            throw _in.Error("symlink target is empty", start);
        if (target.Span.Contains((byte)0))
            throw _in.Error($"symlink target '{NarNames.Show(target.Span)}' contains a NUL byte", start);
        sink.CreateSymlink(path, Decode(target.Span, "symlink target", start));
    }

    private async Task<string> ReadEntryNameAsync(DirectoryFrame dir, CancellationToken cancellationToken)
    {
        var start = _in.Offset;
        var name = (await _in.ReadStringAsync(NarTokens.MaxTokenLength, "an entry name", cancellationToken)).ToArray();
        if (NarNames.Validate(name) is { } problem)
            throw _in.Error(problem, start);
        if (dir.LastName is { } previous)
        {
            var order = name.AsSpan().SequenceCompareTo(previous);
            if (order == 0)
                throw _in.Error($"duplicate entry '{NarNames.Show(name)}'", start);
            if (order < 0)
                throw _in.Error($"entry '{NarNames.Show(name)}' comes after '{NarNames.Show(previous)}': entries must be sorted by the bytes of their names", start);
        }

        dir.LastName = name;
        return NarNames.Child(dir.Path, Decode(name, "entry name", start));
    }

    private string Decode(ReadOnlySpan<byte> bytes, string what, long start)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new NarFormatException($"{what} '{NarNames.Show(bytes)}' is not valid UTF-8, which BuildFarm does not support", start, _in.EntryPath, e);
        }
    }

    private static bool Is(ReadOnlyMemory<byte> token, byte[] expected) => token.Span.SequenceEqual(NarTokens.Body(expected));

    private sealed class DirectoryFrame(string path)
    {
        public string Path { get; } = path;

        public byte[]? LastName { get; set; }
    }
}
