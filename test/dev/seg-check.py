import subprocess, sys, urllib.request, json, re, datetime
b, t = open('/tmp/hls-dev.url').read().split()
base = f"{b}t/{t}/"
pl = urllib.request.urlopen(base + "media.m3u8").read().decode()
sc = json.loads(urllib.request.urlopen(base + "scores.json").read())
anchors = sc['timeline']
print('anchors', anchors)
init = urllib.request.urlopen(base + "init-0.mp4").read()
segs = re.findall(r'#EXT-X-PROGRAM-DATE-TIME:(\S+)\n(?:#EXT-X-PART[^\n]*\n)*#EXTINF:([\d.]+),\n(seg-\d+\.m4s)', pl)
for pdt, dur, name in segs[:6]:
    data = urllib.request.urlopen(base + name).read()
    raw = subprocess.run(['ffmpeg','-v','error','-i','-','-frames:v','1','-f','rawvideo','-pix_fmt','gray','-'], input=init+data, capture_output=True).stdout
    def row(y):
        v = 0
        for c in range(32):
            v = v*2 + (1 if raw[(y)*1280 + c*24+12] >= 128 else 0)
        return v
    pdt_ms = datetime.datetime.fromisoformat(pdt.replace('Z','+00:00')).timestamp()*1000
    a = [x for x in anchors if x['pdt'] <= pdt_ms + 0.5][-1]
    mt = a['mediaTime'] + pdt_ms - a['pdt']
    print(name, dur, 'burned', row(12), 'mapped', round(mt*30/1000))
