using System.Diagnostics;
using System.Globalization;
using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Archives;
using BuildFarm.Transfer.Errors;
using BuildFarm.Worker.Outputs;
using BuildFarm.Worker.Storage;
using Serilog;

namespace BuildFarm.Worker.Origins;

/// <summary>
/// Step 4 of docs/offload.md: the signed archive of the outputs (outputs only: their references are inputs the
/// origin already has) is streamed to a long-lived <c>RemoteCommand store quarantine-serve</c> on the origin's pooled
/// SSH connection (<see cref="QuarantineServePool"/>), or into one <c>store quarantine-put --build ID --attempt N</c>
/// per build when the origin's buildfarm is too old for that. Without an origin the outputs stay in the worker's store.
/// </summary>
/// <remarks>
/// Delivery: <see cref="Execution.AttemptRunner"/> publishes BuildSucceeded only after this returns, i.e. after the
/// origin answered ok (or quarantine-put exited 0), which means the quarantine file is complete and fsynced. If the
/// worker dies mid-upload the origin keeps at most a <c>.part</c> file and the attempt is republished after its lease
/// runs out. A retried upload (Polly, transient failures) rewrites the whole file. An upload that makes no progress
/// for <c>Origins:UploadStallTimeout</c> (a blackholed link, an origin that stopped reading) is not retried: its
/// connection is dropped and the attempt fails as Infrastructure at once, so the build is retried rather than held
/// here until TCP gives up; the origin deletes the <c>.part</c> file when it sees the channel end.
/// </remarks>
internal sealed class OriginOutputUploader(OriginRegistry origins, WorkerStore workerStore, ILogger logger) : IOutputUploader
{
    private readonly ILogger _log = logger.ForContext<OriginOutputUploader>();

    public async Task UploadAsync(BuildDerivation request, IReadOnlyList<BuiltOutput> outputs, CancellationToken cancellationToken)
    {
        if (request.Origin is null)
            return;
        var session = origins.Resolve(request.Origin);
        var store = await workerStore.GetAsync(cancellationToken);
        var paths = outputs.Select(o => store.ParsePath(o.Path)).Distinct().ToList();
        async Task WriteArchiveAsync(Stream stdin, CancellationToken ct)
        {
            // The upload's SSH session is open here: a hold is a fault "mid-transfer".
            await Execution.PhaseHold.AtAsync("upload", request.DrvPath, ct);
            var buffered = new BufferedStream(stdin, 1 << 16);
            await ArchiveWriter.ExportAsync(store, paths, buffered, new ExportOptions(ArchiveFormat.BuildFarmSigned), ct);
            await buffered.FlushAsync(ct);
        }

        var clock = Stopwatch.StartNew();
        async Task<long> ReturnAsync()
        {
            if (!session.Uploads.Unsupported)
            {
                try
                {
                    return await session.Uploads.UploadAsync(request.BuildId, request.Attempt, WriteArchiveAsync, cancellationToken);
                }
                catch (RemoteCommandFailedException) when (session.Uploads.Unsupported)
                {
                    _log.Warning("Origin {Origin} does not know 'store quarantine-serve' (an older buildfarm): returning outputs with one quarantine-put per build", session.Name);
                }
            }

            return await PutAsync(session, request, WriteArchiveAsync, cancellationToken);
        }

        long received;
        try
        {
            received = await ReturnAsync();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            throw new OriginException($"returning {paths.Count} output path(s) to origin {session.Name} failed: {e.Message}", e);
        }

        _log.Information(
            "Returned {OutputCount} outputs of {DrvPath} to the quarantine of origin {Origin} ({Bytes} bytes) in {UploadTime}",
            paths.Count, request.DrvPath, session.Name, received, clock.Elapsed);
    }

    /// <summary>The one-process-per-upload way, for origins without quarantine-serve.</summary>
    private static async Task<long> PutAsync(OriginSession session, BuildDerivation request, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        var command = session.Client.BuildfarmCommand(
            ["store", "quarantine-put", "--build", request.BuildId.ToString(), "--attempt", request.Attempt.ToString(CultureInfo.InvariantCulture)]);
        var stdout = await session.Client.UploadAsync(command, write, cancellationToken, session.Uploads.StallTimeout);
        return long.TryParse(stdout.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) ? bytes : -1;
    }
}
