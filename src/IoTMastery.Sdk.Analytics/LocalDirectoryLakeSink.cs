namespace IoTMastery.Sdk.Analytics;

/// <summary>
/// Writes the lake to a local directory: each file goes to a temporary name in its partition folder, is fsync'd, and is
/// renamed over <c>key</c>, so readers see whole files only and a file that was acknowledged survives an OS crash.
/// A temporary file left by a process killed mid-write is deleted when the same key is written again, which the
/// exporter does after a crash.
/// </summary>
internal sealed class LocalDirectoryLakeSink : ILakeSink
{
    /// <summary>Creates a sink rooted at <paramref name="rootDirectory"/>, creating it if missing.</summary>
    /// <exception cref="ArgumentException"><paramref name="rootDirectory"/> is empty.</exception>
    public LocalDirectoryLakeSink(string rootDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(rootDirectory);
        Root = Path.GetFullPath(rootDirectory);
        Directory.CreateDirectory(Root);
    }

    /// <summary>The lake's root directory, absolute.</summary>
    public string Root { get; }

    /// <inheritdoc />
    public string Description => Root;

    /// <inheritdoc />
    public async Task WriteAsync(string key, Stream content, CancellationToken cancellationToken)
    {
        LakeKeys.Validate(key, nameof(key));
        ArgumentNullException.ThrowIfNull(content);
        var target = Path.GetFullPath(Path.Combine(Root, key.Replace('/', Path.DirectorySeparatorChar)));
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        // A dot-prefixed name: Spark, Hive and DuckDB's globs skip hidden files, so a crash never leaves a half file they read.
        var temporary = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        // A process killed mid-write left its temporary file; the exporter rewrites that same key after the crash, so
        // this is where the leftover is removed.
        foreach (var stale in Directory.EnumerateFiles(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.*.tmp"))
        {
            try { File.Delete(stale); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        try
        {
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, target, overwrite: true);
        }
        catch
        {
            try { File.Delete(temporary); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
