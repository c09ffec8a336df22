using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;
using static BuildFarm.Store.Nar.NarSyscalls;

namespace BuildFarm.Store.Nar;

/// <summary>
/// Takes a full chunk of NAR bytes (<paramref name="count"/> bytes of <paramref name="chunk"/>) and returns the
/// buffer to fill next: the same one once its bytes are consumed, or another while they still are.
/// </summary>
internal delegate byte[] NarChunkHandler(byte[] chunk, int count);

/// <summary>
/// Serialises a file system object as a NAR, byte for byte what <c>nix-store --dump</c> writes, synchronously into
/// chunks handed to a <see cref="NarChunkHandler"/>. The per-file path of <see cref="NarHasher"/>: no task, no
/// <see cref="FileSystemInfo"/> and no .NET string per entry. Each directory is listed with <c>getdents64</c> into
/// a reused buffer, its names kept as the bytes the kernel gave and sorted as bytes (NAR order); children are
/// opened relative to their directory (<c>openat</c>, <c>readlinkat</c>), so no path is resolved from the root
/// again; a regular file is <c>openat</c>, <c>statx</c> of the open file (its mode and size), <c>read</c> straight
/// into the chunk, <c>close</c> — the system calls <c>nix-hash</c> makes (it <c>lstat</c>s instead of the
/// <c>statx</c>). Directory entries whose type the file system does not report are <c>statx</c>'ed by name.
/// </summary>
/// <remarks>
/// Semantics shared with <see cref="NarWriter"/>: only the owner-execute bit survives, symlinks are never followed,
/// names or symlink targets that are not valid UTF-8 are refused (the rest of the store handles names as .NET
/// strings), special files are refused. A file's size is the one <c>statx</c> gave when it was opened: a file that
/// shrinks while it is read fails with an <see cref="IOException"/>; one that grows contributes its first
/// <c>size</c> bytes (as in Nix).
/// </remarks>
internal sealed class NarSerializer
{
    private static readonly byte[] RegularHead = Concat(NarTokens.Open, NarTokens.Type, NarTokens.Regular);
    private static readonly byte[] ExecutableMark = Concat(NarTokens.Executable, NarTokens.Empty);
    private static readonly byte[] DirectoryHead = Concat(NarTokens.Open, NarTokens.Type, NarTokens.Directory);
    private static readonly byte[] EntryHead = Concat(NarTokens.Entry, NarTokens.Open, NarTokens.Name);
    private static readonly byte[] SymlinkHead = Concat(NarTokens.Open, NarTokens.Type, NarTokens.Symlink, NarTokens.Target);
    private static readonly byte[] CloseClose = Concat(NarTokens.Close, NarTokens.Close);
    private static readonly byte[] EmptyPathZ = [0];

    private readonly NarChunkHandler _handler;
    private readonly CancellationToken _cancellationToken;
    private readonly byte[] _statx = new byte[StatxBufferSize];
    private readonly byte[] _dirents = new byte[32 * 1024];
    private readonly byte[] _link = new byte[NarTokens.MaxTokenLength + 1];
    private byte[] _chunk;
    private int _count;
    private long _handedOff;

    private NarSerializer(byte[] chunk, NarChunkHandler handler, CancellationToken cancellationToken)
    {
        _chunk = chunk;
        _handler = handler;
        _cancellationToken = cancellationToken;
    }

    /// <summary>
    /// Writes the NAR of <paramref name="physicalPath"/> into <paramref name="chunk"/> and the buffers
    /// <paramref name="handler"/> returns; every full chunk goes to the handler. Returns the NAR's total size; the
    /// last, partly filled buffer and its byte count (not handed to the handler) come back in <paramref name="last"/>
    /// and <paramref name="lastCount"/>.
    /// </summary>
    public static long Write(
        string physicalPath, byte[] chunk, NarChunkHandler handler, out byte[] last, out int lastCount, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var serializer = new NarSerializer(chunk, handler, cancellationToken);
        serializer.WriteRoot(physicalPath);
        last = serializer._chunk;
        lastCount = serializer._count;
        return serializer._handedOff + serializer._count;
    }

    private void WriteRoot(string path)
    {
        Put(NarTokens.MagicBytes);
        var pathZ = new byte[Encoding.UTF8.GetByteCount(path) + 1];
        Encoding.UTF8.GetBytes(path, pathZ);

        // The root's kind comes from lstat: a root symlink (even to a directory) is archived as the symlink.
        if (Statx(AtFdCwd, ref pathZ[0], AtSymlinkNoFollow, StatxType, ref _statx[0]) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno is ENoEnt or ENotDir
                ? new FileNotFoundException($"cannot archive '{path}': it does not exist", path)
                : new IOException($"cannot archive '{path}': {ErrorText(errno)}", errno);
        }

        WriteNode(AtFdCwd, pathZ, 0, pathZ.Length - 1, TypeOfMode(Mode()), path, parent: null);
    }

    /// <summary>
    /// Writes the node named by <paramref name="names"/>[<paramref name="start"/>..+<paramref name="length"/>]
    /// (followed by a NUL) in directory <paramref name="dirFd"/>, whose <c>d_type</c> is <paramref name="type"/>.
    /// <paramref name="parent"/> is the directory's path for messages (null for the root, named by <paramref name="path"/>).
    /// </summary>
    private void WriteNode(int dirFd, byte[] names, int start, int length, byte type, string? path, string? parent)
    {
        switch (type)
        {
            case DtRegular:
            {
                var fd = OpenAt(dirFd, ref names[start], ORdOnly | ONoFollow | OCloExec | ONonBlock);
                if (fd < 0)
                    throw OpenFailed(Marshal.GetLastPInvokeError(), path ?? Child(parent!, names, start, length));
                try
                {
                    WriteRegular(fd, path, parent, names, start, length);
                }
                finally
                {
                    // Nothing was written through the descriptor: a failing close loses nothing.
                    _ = Close(fd);
                }

                break;
            }

            case DtDirectory:
            {
                path ??= Child(parent!, names, start, length);
                var fd = OpenAt(dirFd, ref names[start], ORdOnly | ODirectory | ONoFollow | OCloExec);
                if (fd < 0)
                    throw OpenFailed(Marshal.GetLastPInvokeError(), path);
                try
                {
                    WriteDirectory(fd, path);
                }
                finally
                {
                    // Nothing was written through the descriptor: a failing close loses nothing.
                    _ = Close(fd);
                }

                break;
            }

            case DtSymlink:
                WriteSymlink(dirFd, names, start, length, path, parent);
                break;
            case DtUnknown:
                // Some file systems do not fill d_type: lstat the entry.
                if (Statx(dirFd, ref names[start], AtSymlinkNoFollow, StatxType, ref _statx[0]) != 0)
                    throw OpenFailed(Marshal.GetLastPInvokeError(), path ?? Child(parent!, names, start, length));
                var known = TypeOfMode(Mode());
                if (known == DtUnknown)
                    throw Unsupported(path ?? Child(parent!, names, start, length));
                WriteNode(dirFd, names, start, length, known, path, parent);
                break;
            default:
                throw Unsupported(path ?? Child(parent!, names, start, length));
        }
    }

    private void WriteRegular(int fd, string? path, string? parent, byte[] names, int start, int length)
    {
        // Mode and size of the file actually opened (O_NOFOLLOW: a symlink swapped in fails the open instead).
        if (Statx(fd, ref EmptyPathZ[0], AtEmptyPath, StatxType | StatxMode | StatxSize, ref _statx[0]) != 0)
            throw new IOException($"statx of '{path ?? Child(parent!, names, start, length)}' failed: {ErrorText(Marshal.GetLastPInvokeError())}");
        var mode = Mode();
        if ((mode & SIfMt) != SIfReg)
            throw new IOException($"'{path ?? Child(parent!, names, start, length)}' stopped being a regular file while it was archived");
        var size = (long)BinaryPrimitives.ReadUInt64LittleEndian(_statx.AsSpan(StatxSizeOffset));

        Put(RegularHead);
        if ((mode & 0x40) != 0)
            Put(ExecutableMark);
        Put(NarTokens.Contents);
        PutU64((ulong)size);
        long offset = 0;
        while (offset < size)
        {
            if (_count == _chunk.Length)
                HandOff();
            var want = (int)Math.Min(_chunk.Length - _count, size - offset);
            var n = NarSyscalls.Read(fd, ref _chunk[_count], want);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new IOException($"read of '{path ?? Child(parent!, names, start, length)}' failed: {ErrorText(errno)}", errno);
            }

            if (n == 0)
                throw new IOException($"file '{path ?? Child(parent!, names, start, length)}' shrank from {size} to {offset} bytes while it was being archived");
            _count += (int)n;
            offset += n;
        }

        PutPadding(size);
        Put(NarTokens.Close);
    }

    private void WriteSymlink(int dirFd, byte[] names, int start, int length, string? path, string? parent)
    {
        var n = ReadLinkAt(dirFd, ref names[start], ref _link[0], _link.Length);
        if (n < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            path ??= Child(parent!, names, start, length);
            throw errno == 22 // EINVAL: not a symlink (any more)
                ? new IOException($"'{path}' stopped being a symlink while it was archived")
                : new IOException($"readlink of '{path}' failed: {ErrorText(errno)}", errno);
        }

        if (n == _link.Length)
            throw new IOException($"symlink target of '{path ?? Child(parent!, names, start, length)}' is longer than {NarTokens.MaxTokenLength} bytes");
        var target = _link.AsSpan(0, (int)n);
        if (!Utf8.IsValid(target))
            throw new IOException($"symlink target of '{path ?? Child(parent!, names, start, length)}' is not valid UTF-8; BuildFarm cannot archive it faithfully");
        Put(SymlinkHead);
        PutString(target);
        Put(NarTokens.Close);
    }

    private void WriteDirectory(int fd, string path)
    {
        _cancellationToken.ThrowIfCancellationRequested();
        var (names, entries, count) = List(fd, path);
        Put(DirectoryHead);
        for (var i = 0; i < count; i++)
        {
            var entry = entries[i];
            Put(EntryHead);
            PutString(names.AsSpan(StartOf(entry), LengthOf(entry)));
            Put(NarTokens.Node);
            WriteNode(fd, names, StartOf(entry), LengthOf(entry), TypeOf(entry), path: null, parent: path);
            Put(NarTokens.Close);
        }

        Put(NarTokens.Close);
    }

    /// <summary>
    /// The entries of an open directory except "." and "..", sorted by the bytes of their names: each name is kept
    /// NUL-terminated in one array (to pass to the *at calls as is), each entry packed in a long (see
    /// <see cref="Pack"/>). Plain arrays and our own sort rather than a List and Array.Sort of a struct: those
    /// generic instantiations are not in the ReadyToRun image and were JIT-compiled at every start.
    /// </summary>
    private (byte[] Names, long[] Entries, int Count) List(int fd, string path)
    {
        var names = new byte[1024];
        var used = 0;
        var entries = new long[64];
        var count = 0;
        while (true)
        {
            var n = GetDents64(fd, ref _dirents[0], _dirents.Length);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr)
                    continue;
                throw new IOException($"cannot list '{path}': {ErrorText(errno)}", errno);
            }

            if (n == 0)
                break;

            // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, d_name (NUL-terminated).
            for (var at = 0; at < n;)
            {
                var recordLength = BinaryPrimitives.ReadUInt16LittleEndian(_dirents.AsSpan(at + 16));
                var type = _dirents[at + 18];
                var record = _dirents.AsSpan(at + 19, recordLength - 19);
                var name = record[..record.IndexOf((byte)0)];
                at += recordLength;
                if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
                    continue;
                if (!Utf8.IsValid(name))
                    throw new IOException($"file name of '{NarNames.Child(path, Encoding.UTF8.GetString(name))}' is not valid UTF-8; BuildFarm cannot archive it faithfully");
                if (used + name.Length + 1 > names.Length)
                    names = Grow(names, used + name.Length + 1);
                name.CopyTo(names.AsSpan(used));
                names[used + name.Length] = 0;
                if (count == entries.Length)
                {
                    var bigger = new long[count * 2];
                    Array.Copy(entries, bigger, count);
                    entries = bigger;
                }

                entries[count++] = Pack(used, name.Length, type);
                used += name.Length + 1;
            }
        }

        SortByName(entries, count, names);
        return (names, entries, count);
    }

    /// <summary>An entry as start of its name (bits 16+), length (8 bits: names are at most 255 bytes) and d_type.</summary>
    private static long Pack(int start, int length, byte type) => ((long)start << 16) | ((long)length << 8) | type;

    private static int StartOf(long entry) => (int)(entry >> 16);

    private static int LengthOf(long entry) => (int)((entry >> 8) & 0xFF);

    private static byte TypeOf(long entry) => (byte)entry;

    private static int CompareNames(long x, long y, byte[] names) =>
        names.AsSpan(StartOf(x), LengthOf(x)).SequenceCompareTo(names.AsSpan(StartOf(y), LengthOf(y)));

    /// <summary>Merge sort by name bytes (names in one directory are distinct, so stability does not matter).</summary>
    private static void SortByName(long[] entries, int count, byte[] names)
    {
        if (count > 1)
            MergeSort(entries, new long[count], 0, count, names);
    }

    private static void MergeSort(long[] items, long[] scratch, int low, int high, byte[] names)
    {
        if (high - low <= 12)
        {
            for (var i = low + 1; i < high; i++)
            {
                var item = items[i];
                var j = i - 1;
                for (; j >= low && CompareNames(items[j], item, names) > 0; j--)
                    items[j + 1] = items[j];
                items[j + 1] = item;
            }

            return;
        }

        var middle = low + ((high - low) / 2);
        MergeSort(items, scratch, low, middle, names);
        MergeSort(items, scratch, middle, high, names);
        if (CompareNames(items[middle - 1], items[middle], names) <= 0)
            return;
        Array.Copy(items, low, scratch, low, high - low);
        int left = low, right = middle, to = low;
        while (left < middle && right < high)
            items[to++] = CompareNames(scratch[right], scratch[left], names) < 0 ? scratch[right++] : scratch[left++];
        while (left < middle)
            items[to++] = scratch[left++];
        while (right < high)
            items[to++] = scratch[right++];
    }

    private static byte[] Grow(byte[] array, int atLeast)
    {
        var bigger = new byte[Math.Max(array.Length * 2, atLeast)];
        Array.Copy(array, bigger, array.Length);
        return bigger;
    }

    private int Mode() => BinaryPrimitives.ReadUInt16LittleEndian(_statx.AsSpan(StatxModeOffset));

    private static byte TypeOfMode(int mode) => (mode & SIfMt) switch
    {
        SIfReg => DtRegular,
        SIfDir => DtDirectory,
        SIfLnk => DtSymlink,
        _ => DtUnknown,
    };

    private void Put(ReadOnlySpan<byte> bytes)
    {
        while (true)
        {
            var room = _chunk.Length - _count;
            if (bytes.Length <= room)
            {
                bytes.CopyTo(_chunk.AsSpan(_count));
                _count += bytes.Length;
                return;
            }

            bytes[..room].CopyTo(_chunk.AsSpan(_count));
            _count += room;
            bytes = bytes[room..];
            HandOff();
        }
    }

    private void PutU64(ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        Put(bytes);
    }

    private void PutString(ReadOnlySpan<byte> bytes)
    {
        PutU64((ulong)bytes.Length);
        Put(bytes);
        PutPadding(bytes.Length);
    }

    private void PutPadding(long length)
    {
        Span<byte> zeros = stackalloc byte[8];
        zeros.Clear();
        Put(zeros[..NarTokens.Padding(length)]);
    }

    private void HandOff()
    {
        _cancellationToken.ThrowIfCancellationRequested();
        _handedOff += _count;
        _chunk = _handler(_chunk, _count);
        _count = 0;
    }

    private static IOException OpenFailed(int errno, string path) => errno switch
    {
        ENoEnt => new FileNotFoundException($"'{path}' disappeared while it was archived", path),
        ELoop or ENotDir => new IOException($"'{path}' changed type while it was archived"),
        _ => new IOException($"cannot open '{path}': {ErrorText(errno)}", errno),
    };

    private static IOException Unsupported(string path) =>
        new($"'{path}' is not a regular file, directory or symlink; a NAR cannot contain it");

    private static string Child(string parent, byte[] names, int start, int length) =>
        NarNames.Child(parent, Encoding.UTF8.GetString(names, start, length));

    private static byte[] Concat(params byte[][] parts)
    {
        var length = 0;
        foreach (var part in parts)
            length += part.Length;
        var result = new byte[length];
        var at = 0;
        foreach (var part in parts)
        {
            part.CopyTo(result, at);
            at += part.Length;
        }

        return result;
    }
}
