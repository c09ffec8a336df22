namespace BuildFarm.Store.Quarantine;

/// <summary>
/// The origin's receiving side of the upload stream (<see cref="QuarantineProtocol"/>): many workers' archives, one
/// after another, each into its attempt's quarantine file. <c>buildfarm store quarantine-serve</c> runs it on the
/// origin over a long-lived SSH channel.
/// </summary>
/// <remarks>
/// Delivery: <c>ok N</c> is written only after the quarantine file is complete and fsynced; the worker publishes
/// BuildSucceeded after reading it. On any error the reply is <c>error …</c> and serving stops (an incomplete
/// upload leaves no file, its <c>.part</c> is deleted); if the channel drops mid-upload, the same happens.
/// </remarks>
public static class QuarantineReceiver
{
    /// <summary>Default cap on one attempt's returned archive: 64 GiB.</summary>
    public const long DefaultMaxBytes = 64L * 1024 * 1024 * 1024;

    /// <summary>Serves uploads until end of input (null) or the first error (its message, also sent as the reply).</summary>
    /// <remarks><paramref name="stallTimeout"/>: how long one upload may go silent mid-archive before its <c>.part</c> file is deleted and serving stops.</remarks>
    public static async Task<string?> ServeAsync(
        OutputQuarantine quarantine, Stream input, Stream output, long maxBytes, CancellationToken cancellationToken, TimeSpan? stallTimeout = null, TimeProvider? time = null)
    {
        stallTimeout ??= Archives.ImportOptions.DefaultStallTimeout;
        while (true)
        {
            string? reply = null;
            try
            {
                var line = await QuarantineProtocol.ReadLineAsync(input, cancellationToken);
                if (line is null)
                    return null;
                var (buildId, attempt) = QuarantineProtocol.ParsePut(line);
                var received = await quarantine.ReceiveAsync(buildId, attempt, new ChunkedReadStream(input), maxBytes, cancellationToken, stallTimeout, time);
                if (received == 0)
                {
                    quarantine.Delete(buildId, attempt);
                    reply = $"the upload was empty: no archive received for build {buildId} attempt {attempt}";
                }
                else
                {
                    await output.WriteAsync(QuarantineProtocol.OkLine(received), cancellationToken);
                    await output.FlushAsync(cancellationToken);
                    continue;
                }
            }
            catch (Exception e) when (e is QuarantineProtocolException or IOException or UnauthorizedAccessException or TimeoutException)
            {
                reply = e.Message;
            }

            try
            {
                await output.WriteAsync(QuarantineProtocol.ErrorLine(reply), cancellationToken);
                await output.FlushAsync(cancellationToken);
            }
            catch (IOException)
            {
                // The worker is gone; the exit status says the rest.
            }

            return reply;
        }
    }
}
