"""Audio data for edgekws: MFCC front end, datasets, augmentation and a synthetic corpus.

Modules
-------
mfcc            numpy MFCC equal to TensorFlow's AudioSpectrogram + Mfcc; uint8 scaling
wavio           16-bit PCM WAV reading/writing and polyphase resampling
speech_commands Google Speech Commands layout: splits, labels, silence samples
augment         time shift and background-noise mixing (few-shot enrolment copies)
noise           synthetic noises, room impulse responses, band limits
espeak          eSpeak NG driven in-process through ctypes
synth           the offline keyword corpus (``edgekws data synth``)
fsdd            the Free Spoken Digit Dataset reader
features        MFCC features cached on disk
cli             the ``edgekws data`` command group
"""
